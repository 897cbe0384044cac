"""Races: requests that arrive at the same moment never corrupt a note, never let an extra
password guess through, and never answer 500.

Each test is the race as it happens on a learner's machine: a real server on a real port,
many threads sending real HTTP requests at once. A race that the code does not close shows
up here as a wrong body, a stored plaintext, a sixth password check or a 500.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet, MultiFernet
from helpers import serve

from sandbox import registry
from sandbox.db import DATABASE_FILE
from sandbox.modules.encryption import keys
from sandbox.modules.encryption.transform import is_token

ON, OFF = {"enabled": True}, {"enabled": False}


# --- helpers ---


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Fail a test that leaves a thread running: a server, a worker, a request handler."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while left := [t for t in threading.enumerate() if t not in before and t.is_alive()]:
        assert time.monotonic() < deadline, f"threads left running: {left}"
        time.sleep(0.02)


def database(app) -> sqlite3.Connection:
    """Open the sandbox's database file directly, around the server."""
    return sqlite3.connect(Path(app.instance_path) / DATABASE_FILE)


def key_ring(app) -> MultiFernet:
    """Return the keys of the key file (to decrypt what is stored, around the server)."""
    lines = (Path(app.instance_path) / keys.KEY_FILE).read_text().splitlines()
    return MultiFernet([Fernet(k) for k in lines if k and not k.startswith("#")])


def run_together(*workers: Callable[[], None], timeout: float = 120) -> None:
    """Run functions on threads at once; wait for all of them; re-raise the first failure."""
    failures: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread below
            failures.append(error)

    threads = [threading.Thread(target=guarded, args=(w,), daemon=True) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(t.is_alive() for t in threads), "a worker thread did not finish"
    if failures:
        raise failures[0]


# --- 1. notes written while encryption is being switched ---


class Writers:
    """Threads that create, patch and replace notes over HTTP until told to stop.

    Each note is written by one thread only, so the body it was last acknowledged with
    (a 2xx answer) is exactly the body it must have when read back.
    """

    def __init__(self, url: str, count: int):
        self.url, self.count = url, count
        self.expected: dict[int, str] = {}  # note id -> last acknowledged body
        self.wrong: list[str] = []  # answers that were not what the write promised
        self.acknowledged = 0  # writes answered 2xx so far
        self.stop = threading.Event()

    def write(self, n: int) -> None:
        with requests.Session() as http:
            i = 0
            while not self.stop.is_set():
                i += 1
                body = f"writer {n}, note {i}: created"
                created = http.post(
                    self.url + "/api/notes", json={"title": f"w{n}.{i}", "body": body}
                )
                if not self._acknowledged(created, 201, body):
                    continue
                note_id = created.json()["id"]
                self.expected[note_id] = body
                for method, fields in (
                    ("PATCH", {"body": f"writer {n}, note {i}: patched"}),
                    ("PUT", {"title": f"w{n}.{i}", "body": f"writer {n}, note {i}: replaced"}),
                ):
                    answer = http.request(method, f"{self.url}/api/notes/{note_id}", json=fields)
                    if self._acknowledged(answer, 200, fields["body"]):
                        self.expected[note_id] = fields["body"]

    def _acknowledged(self, response: requests.Response, status: int, body: str) -> bool:
        if response.status_code != status:
            self.wrong.append(f"{response.request.method} answered {response.status_code}")
            return False
        self.acknowledged += 1
        if response.json()["body"] != body:  # the answer itself must show what was written
            self.wrong.append(
                f"{response.request.method} answered body {response.json()['body']!r}"
            )
        return True

    def wait_for(self, writes: int, timeout: float = 30) -> None:
        """Wait until this many more writes have been acknowledged."""
        target, deadline = self.acknowledged + writes, time.monotonic() + timeout
        while self.acknowledged < target:
            assert time.monotonic() < deadline, "the writers made no progress"
            time.sleep(0.005)

    def workers(self) -> list[Callable[[], None]]:
        return [lambda n=n: self.write(n) for n in range(self.count)]


def switcher(url: str, switches: int, writers: Writers) -> Callable[[], None]:
    """Return a worker that switches encryption on and off, then stops the writers."""

    def work() -> None:
        try:
            with requests.Session() as http:
                writers.wait_for(writes=writers.count)  # the writers are under way
                for i in range(switches):
                    answer = http.patch(
                        url + "/sandbox/modules/encryption", json=OFF if i % 2 else ON
                    )
                    assert answer.status_code == 200, answer.text
                    writers.wait_for(writes=writers.count)  # between switches too, not only during
        finally:
            writers.stop.set()

    return work


def stored_bodies(app, storage: str) -> dict[int, str]:
    """Return every note's body as stored (in the notes table, or in this server's memory)."""
    if storage == "memory":
        kept = app.extensions["sandbox.memory_notes"]._notes.get("local", {})
        return {i: n["body"] for i, n in kept.items()}
    with database(app) as conn:
        return dict(conn.execute("select id, body from notes where workspace = 'local'"))


@pytest.mark.parametrize("storage", ["database", "memory"])
def test_notes_written_during_encryption_switches_read_back_exactly(app, storage):
    with serve(app) as live:
        if storage == "memory":
            assert live.request("PATCH", "/sandbox/modules/database", json=OFF).ok
        # Many notes make each switch take longer: more writes arrive while it runs.
        for i in range(150):
            body = f"filler {i}"
            assert live.post("/api/notes", json={"title": f"f{i}", "body": body}).status_code == 201
        for switches, ends in ((9, "on"), (8, "off")):
            writers = Writers(live.url, count=6)
            run_together(*writers.workers(), switcher(live.url, switches, writers))
            stored = stored_bodies(app, storage)
            ring = key_ring(app)
            clear = [i for i in writers.expected if ends == "on" and not is_token(stored[i])]
            wrong = [
                i for i in writers.expected if unwrap(stored[i], ends, ring) != writers.expected[i]
            ]
            read_back = [
                i
                for i, body in writers.expected.items()
                if live.get(f"/api/notes/{i}").json().get("body") != body
            ]
            assert not (writers.wrong or clear or wrong or read_back), (
                f"ending {ends}, of {len(writers.expected)} notes: {len(writers.wrong)} answers "
                f"wrong {writers.wrong[:2]}, {len(clear)} stored in clear while on, {len(wrong)} "
                f"stored wrong, {len(read_back)} read back wrong"
            )


def unwrap(stored: str, ends: str, ring: MultiFernet) -> str:
    """Return what a stored body says: decrypted once while encryption is on, as is when off."""
    if ends == "off" or not is_token(stored):
        return stored
    return ring.decrypt(stored.encode()).decode()


# --- 2. a switch that fails changes nothing, in the database or in memory ---


def tamper(token: str) -> str:
    """Change one character in the middle of a token, keeping it the shape of a token."""
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


def memory_bodies(app) -> dict[int, str]:
    """Return the bodies of the notes this server keeps in memory."""
    return {i: n["body"] for i, n in app.extensions["sandbox.memory_notes"]._notes["local"].items()}


def test_a_switch_refused_by_a_tampered_note_leaves_the_memory_notes_alone(app):
    with serve(app) as live:
        assert live.request("PATCH", "/sandbox/modules/encryption", json=ON).ok
        assert live.request("PATCH", "/sandbox/modules/database", json=OFF).ok
        written = {}
        for i in range(5):  # notes in memory, encrypted there
            body = f"kept in memory {i}"
            written[live.post("/api/notes", json={"title": f"m{i}", "body": body}).json()["id"]] = (
                body
            )
        before = memory_bodies(app)
        assert all(is_token(b) for b in before.values())
        with database(app) as conn:  # and one note in the database that fails its check
            (token,) = conn.execute("select body from notes where id = 2").fetchone()
            conn.execute("update notes set body = ? where id = 2", [tamper(token)])
        refused = live.request("PATCH", "/sandbox/modules/encryption", json=OFF)
        assert refused.status_code == 409 and "Nothing was changed" in refused.json()["detail"]
        assert memory_bodies(app) == before  # not decrypted behind the answer's back
        assert live.get("/sandbox/modules/encryption").json()["enabled"] is True
        for note_id, body in written.items():  # and they still decrypt
            answer = live.get(f"/api/notes/{note_id}")
            assert answer.status_code == 200 and answer.json()["body"] == body
        assert not any(e.get("plaintext_found") for e in live.trace(answer)["events"])


def test_a_switch_whose_commit_fails_puts_the_memory_notes_back(app):
    with serve(app) as live:
        assert live.request("PATCH", "/sandbox/modules/database", json=OFF).ok
        for i in range(3):
            assert live.post("/api/notes", json={"title": f"m{i}", "body": f"plain {i}"}).ok
        before = memory_bodies(app)
        with database(app) as conn:
            # The switch's own last statement fails, after every body was rewritten: as a full
            # disk would make it fail. (A trigger is how SQLite lets us make a write fail.)
            for event in ("insert", "update"):
                conn.execute(
                    f"create trigger refuse_{event} before {event} on module_state "
                    "when new.name = 'encryption' begin select raise(abort, 'disk full'); end"
                )
        failed = live.request("PATCH", "/sandbox/modules/encryption", json=ON)
        assert failed.status_code == 500
        assert memory_bodies(app) == before  # as plain as the database says they are
        assert live.get("/sandbox/modules/encryption").json()["enabled"] is False
        with database(app) as conn:
            conn.execute("drop trigger refuse_insert")
            conn.execute("drop trigger refuse_update")
        assert live.request("PATCH", "/sandbox/modules/encryption", json=ON).ok
        ring = key_ring(app)
        assert {
            i: ring.decrypt(b.encode()).decode() for i, b in memory_bodies(app).items()
        } == before


# --- 3. the login throttle under a burst of guesses ---

PW = "correct horse battery"


def test_thirty_guesses_at_once_get_five_password_checks(app):
    with serve(app) as live:
        assert live.request("PATCH", "/sandbox/modules/auth", json=ON).ok
        for name in ("alice", "erin"):
            account = {"username": name, "password": PW}
            assert requests.post(live.url + "/auth/register", json=account).status_code == 201
        start, answers = threading.Barrier(30), []

        def guess(n: int) -> None:
            start.wait()  # all 30 leave together: the burst a script sends
            guess = {"username": "alice", "password": f"guess number {n}"}
            answers.append(requests.post(live.url + "/auth/login", json=guess, timeout=60))

        run_together(*(lambda n=n: guess(n) for n in range(30)))
        assert Counter(a.status_code for a in answers) == {401: 5, 429: 25}
        # What the server did, from its records: five passwords checked, 25 not even looked at.
        refused = [a for a in answers if a.status_code == 401]
        decisions = [
            e.get("decision")
            for a in answers
            for e in live.trace(a)["events"]
            if e.get("decision") in ("refused", "throttled")
        ]
        assert sorted(decisions) == ["refused"] * 5 + ["throttled"] * 25
        assert all(a.headers["WWW-Authenticate"] for a in refused)
        # Only alice is throttled: another account logs in from the same address at once.
        erin = requests.post(live.url + "/auth/login", json={"username": "erin", "password": PW})
        assert erin.status_code == 200
        right = {"username": "alice", "password": PW}
        assert requests.post(live.url + "/auth/login", json=right).status_code == 429
        with database(app) as conn:  # the window passes: the failures are 16 minutes old
            conn.execute(
                "update login_failures set failed_at = ?",
                [time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(time.time() - 960))],
            )
        assert requests.post(live.url + "/auth/login", json=right).status_code == 200


# --- 4. switching a module while every request reads the switches ---


class WideningLock:
    """A lock that, once released, lets the other threads run for a moment.

    A race strikes in the gap between two statements, a gap so narrow that it takes
    thousands of tries to hit; pausing right after each release makes it wide enough to
    hit in every run. It changes when threads run, never what the code does.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *error: object) -> None:
        self._lock.release()
        time.sleep(0.002)


def test_toggling_a_module_under_concurrent_reads_never_answers_5xx(app, monkeypatch):
    # Every request reads the switches again (as when another process toggles) and pauses
    # right after it kept what it read: where a toggle dropping the cache would strike.
    monkeypatch.setattr(registry, "STATE_TTL", 0)
    app.extensions["sandbox.registry"]._lock = WideningLock()  # guards the cached switches
    with serve(app) as live:
        done, answers = threading.Event(), Counter()

        def read(path: str) -> None:
            with requests.Session() as http:
                while not done.is_set():
                    answers[(path, http.get(live.url + path).status_code)] += 1

        def toggle() -> None:
            try:
                with requests.Session() as http:
                    for i in range(60):
                        body = OFF if i % 2 == 0 else ON
                        answer = http.patch(live.url + "/sandbox/modules/server", json=body)
                        answers[("toggle", answer.status_code)] += 1
            finally:
                done.set()

        paths = ["/sandbox/modules", "/sandbox/health"] * 3
        run_together(toggle, *(lambda p=p: read(p) for p in paths))
        errors = {key: n for key, n in answers.items() if key[1] >= 500}
        assert not errors, f"{errors} of {sum(answers.values())} answers"
        assert answers[("toggle", 200)] == 60
        assert answers[("/sandbox/modules", 200)] > 60 and answers[("/sandbox/health", 200)] > 60


# --- a room of writers at once ---


def test_a_room_joining_at_once_all_get_in(tmp_path, monkeypatch):
    """Eighty students press "Join" in the same second: every one gets a workspace.

    Each join writes a workspace and its example notes in one transaction. Left to SQLite's
    busy handler, eighty waiting writers retry on a timer and an unlucky one waits past the
    timeout (a 500 from "database is locked", seen with 100 students in the class benchmark);
    writers of one process now wait their turn in a queue instead. Here SQLite's own wait
    is cut to 0.1 s, shorter than the room's joins take: no join may depend on it.
    """
    from sandbox import create_app, db
    from sandbox.classroom import join_code

    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.1)
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_CLASS_MODE": True})
    answers: list[requests.Response] = []
    with serve(app) as server:
        code = join_code(app)

        def join(number: int) -> Callable[[], None]:
            def run() -> None:
                body = {"name": f"student {number}", "code": code}
                answers.append(requests.post(f"{server.url}/class/join", json=body, timeout=60))

            return run

        run_together(*(join(n) for n in range(80)))
        assert Counter(a.status_code for a in answers) == {201: 80}, [
            a.text for a in answers if a.status_code != 201
        ][:3]
        with database(app) as conn:
            (workspaces,) = conn.execute("select count(*) from class_workspaces").fetchone()
            (notes,) = conn.execute(
                "select count(*) from notes where workspace in (select id from class_workspaces)"
            ).fetchone()
        assert (workspaces, notes) == (80, 80 * 3)


def test_a_write_that_cannot_get_its_turn_is_a_503_that_changed_nothing(live, monkeypatch):
    from sandbox import db

    monkeypatch.setattr(db, "WRITE_TURN_SECONDS", 0.2)
    before = live.session.get(f"{live.url}/api/notes").json()["total"]
    turn = db._write_turn(str(db.database_path(live.app)))
    with turn:  # another writer of this process holds its turn for longer than the wait
        answer = live.session.post(f"{live.url}/api/notes", json={"title": "queued"})
    assert answer.status_code == 503
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["title"] == "Database busy"
    assert "send it again" in answer.json()["detail"]
    assert live.session.get(f"{live.url}/api/notes").json()["total"] == before
    assert live.session.post(f"{live.url}/api/notes", json={"title": "again"}).status_code == 201
