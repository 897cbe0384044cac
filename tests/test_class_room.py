"""Class mode with a room of 30: every row of the isolation table at once (issue 8, §7).

tests/test_class.py proves each row with two students. Here 30 students join one class
server over real HTTP and act at the same moment, as in a lab: each does something only
they do (their name in a note, their own password, their own key), then every student is
checked: they see exactly their own, and nothing of the other 29.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from helpers import Student, is_problem, join
from werkzeug.security import generate_password_hash

from sandbox.db import DATABASE_FILE
from sandbox.modules.auth import accounts
from sandbox.modules.encryption import keys
from sandbox.modules.encryption.transform import is_token

ROOM = 30
ON, OFF = {"enabled": True}, {"enabled": False}

T = TypeVar("T")
R = TypeVar("R")


def everyone(items: Iterable[T], act: Callable[[T], R]) -> list[R]:
    """Run ``act`` for every item at the same moment, a thread each; re-raise any failure.

    A barrier holds every thread until all are ready, so the room really acts at once.
    The results come back in the order of the items.
    """
    items = list(items)
    ready = threading.Barrier(len(items))

    def run(item: T) -> R:
        ready.wait(timeout=60)
        try:
            return act(item)
        except BaseException as error:
            error.add_note(f"(acting for {getattr(item, 'name', item)})")
            raise

    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        futures = [pool.submit(run, item) for item in items]
        return [future.result() for future in futures]


@pytest.fixture
def students(room) -> Iterator[list[Student]]:
    """Thirty students who joined the room at once: student-00 to student-29."""
    # Two digits each, so that no name is part of another ("student-1" of "student-12").
    joined = everyone(range(ROOM), lambda i: join(room, f"student-{i:02d}"))
    yield joined
    for student in joined:
        student.session.close()


@pytest.fixture
def quick_hashes(monkeypatch) -> None:
    """Hash passwords with scrypt at a 32nd of its cost, so 30 students log in quickly.

    This file is about whose account a login finds, not about what a hash costs
    (tests/test_auth.py checks that). The hashes are still scrypt in werkzeug's format,
    made at registration and checked from the stored string at login.
    """
    cost = "scrypt:1024:8:1"
    monkeypatch.setattr(
        accounts,
        "hash_password",
        lambda password: generate_password_hash(accounts.normalize_password(password), cost),
    )
    monkeypatch.setattr(accounts, "_DUMMY_HASH", generate_password_hash("no one's", cost))


def named(students: list[Student], results: list[R]) -> dict[str, R]:
    """Return each student's result by their name."""
    return dict(zip((s.name for s in students), results, strict=True))


def classmate(students: list[Student], student: Student) -> Student:
    """Return the student who joined after this one (the last one's is the first)."""
    return students[(students.index(student) + 1) % len(students)]


def others(students: list[Student], student: Student) -> list[Student]:
    return [s for s in students if s is not student]


def is_even(students: list[Student], student: Student) -> bool:
    """Split the room in two halves: student-00, -02, ... and student-01, -03, ..."""
    return students.index(student) % 2 == 0


def anonymous(student: Student) -> requests.Session:
    """Return a session that holds the student's workspace token and no login."""
    session = requests.Session()
    session.headers["X-Sandbox-Token"] = student.token
    return session


def note_titles(student: Student) -> list[str]:
    response = student.get("api/notes?limit=100")
    assert response.status_code == 200, response.text
    return [note["title"] for note in response.json()["items"]]


def module_states(student: Student) -> dict[str, bool]:
    modules = student.get("sandbox/modules").json()["modules"]
    return {m["name"]: m["enabled"] for m in modules}


def solved(student: Student) -> set[str]:
    progress = student.get("sandbox/progress").json()
    return {c["id"] for c in progress["challenges"] if c["solved"]}


def request_of_ones_own(student: Student) -> str:
    """Send a request with the student's name in its path; return its record's id."""
    response = student.get(f"server/anything/{student.name}")
    assert response.status_code == 200, response.text
    return response.headers["X-Sandbox-Trace"]


def sql(student: Student, statement: str) -> list[list]:
    answer = student.post("sandbox/sql", json={"sql": statement})
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]


def register(student: Student, username: str, password: str) -> None:
    """Switch auth on and make an account, which logs the student's session in."""
    student.switch("auth", ON)
    made = student.post("auth/register", json={"username": username, "password": password})
    assert made.status_code == 201, made.text


def password_of(student: Student) -> str:
    return f"{student.name} keeps a blue teapot"


def log_in(session: requests.Session, student: Student, username: str, password: str):
    body = {"username": username, "password": password}
    return session.post(student.url + "auth/login", json=body, timeout=30)


# --- the isolation table: one test per row, thirty students each ---


def test_notes(students):
    def write(student: Student) -> int:
        note = {"title": f"{student.name}'s secret", "body": f"only {student.name} reads this"}
        response = student.post("api/notes", json=note)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    ids = named(students, everyone(students, write))

    def check_and_trespass(student: Student) -> None:
        titles = note_titles(student)
        assert [t for t in titles if t.endswith("'s secret")] == [f"{student.name}'s secret"]
        # A classmate's note, by its id: not there to read, change or delete.
        theirs = ids[classmate(students, student).name]
        assert student.get(f"api/notes/{theirs}").status_code == 404
        change = {"title": f"{student.name} was here"}
        assert student.request("PATCH", f"api/notes/{theirs}", json=change).status_code == 404
        assert student.request("DELETE", f"api/notes/{theirs}").status_code == 404

    everyone(students, check_and_trespass)

    def still_mine(student: Student) -> None:
        note = student.get(f"api/notes/{ids[student.name]}").json()
        assert note["title"] == f"{student.name}'s secret"
        assert not [t for t in note_titles(student) if "was here" in t]

    everyone(students, still_mine)


def test_the_auth_modules_accounts(students, quick_hashes):
    # Thirty accounts named alice, one per workspace, each with its own password: the
    # name is free in every workspace, whoever took it next door.
    everyone(students, lambda s: register(s, "alice", password_of(s)))

    def log_in_as_alice(student: Student) -> None:
        session = anonymous(student)
        # A classmate's alice, with her password: not an account of this workspace.
        theirs = password_of(classmate(students, student))
        assert log_in(session, student, "alice", theirs).status_code == 401
        mine = log_in(session, student, "alice", password_of(student))
        assert mine.status_code == 200, mine.text
        assert session.get(student.url + "auth/me", timeout=30).json()["username"] == "alice"

    everyone(students, log_in_as_alice)


def test_sessions(students, quick_hashes):
    everyone(students, lambda s: register(s, s.name, password_of(s)))
    cookies = {s.name: s.session.cookies.get("session") for s in students}
    assert all(cookies.values()) and len(set(cookies.values())) == ROOM

    def me(student: Student, cookie: str) -> requests.Response:
        headers = {"X-Sandbox-Token": student.token, "Cookie": f"session={cookie}"}
        return requests.get(student.url + "auth/me", headers=headers, timeout=30)

    def check(student: Student) -> None:
        assert me(student, cookies[student.name]).json()["username"] == student.name
        # A classmate's session cookie, sent to this workspace: nobody is logged in.
        assert me(student, cookies[classmate(students, student).name]).status_code == 401

    everyone(students, check)

    # Half the room logs out: only their sessions end.
    def log_out_if_even(student: Student) -> None:
        if is_even(students, student):
            assert student.post("auth/logout", json={}).status_code == 204

    everyone(students, log_out_if_even)

    def after(student: Student) -> None:
        answer = me(student, cookies[student.name])
        if is_even(students, student):
            assert answer.status_code == 401
        else:
            assert answer.status_code == 200 and answer.json()["username"] == student.name

    everyone(students, after)


def test_api_tokens(students, quick_hashes):
    def make(student: Student) -> dict:
        register(student, student.name, password_of(student))
        made = student.post("auth/tokens", json={"name": f"{student.name}'s nb", "scope": "write"})
        assert made.status_code == 201, made.text
        return made.json()

    made = named(students, everyone(students, make))

    def me(student: Student, token: str) -> requests.Response:
        headers = {"X-Sandbox-Token": student.token, "Authorization": f"Bearer {token}"}
        return requests.get(student.url + "auth/me", headers=headers, timeout=30)

    def check(student: Student) -> None:
        mine, theirs = made[student.name], made[classmate(students, student).name]
        answer = me(student, mine["token"])
        assert answer.status_code == 200 and answer.json()["username"] == student.name
        assert me(student, theirs["token"]).status_code == 401
        listed = student.get("auth/tokens").json()["tokens"]
        assert [t["name"] for t in listed] == [f"{student.name}'s nb"]

    everyone(students, check)

    # Half the room revokes: first a classmate's token by its id (not theirs to revoke),
    # then their own.
    def revoke_if_even(student: Student) -> None:
        if is_even(students, student):
            theirs = made[classmate(students, student).name]["id"]
            assert student.request("DELETE", f"auth/tokens/{theirs}").status_code == 404
            mine = made[student.name]["id"]
            assert student.request("DELETE", f"auth/tokens/{mine}").status_code == 204

    everyone(students, revoke_if_even)

    def after(student: Student) -> None:
        answer = me(student, made[student.name]["token"])
        if is_even(students, student):
            assert answer.status_code == 401
        else:
            assert answer.status_code == 200 and answer.json()["username"] == student.name

    everyone(students, after)


def test_login_throttling(students, quick_hashes):
    everyone(students, lambda s: register(s, "alice", password_of(s)))
    sessions = {s.name: anonymous(s) for s in students}

    # Half the room mistypes alice's password five times (the account's limit); the other
    # half once. Every workspace's alice is its own account, with its own count.
    def mistype(student: Student) -> None:
        times = 5 if is_even(students, student) else 1
        for _ in range(times):
            wrong = log_in(sessions[student.name], student, "alice", f"not {student.name}'s")
            assert wrong.status_code == 401, wrong.text

    everyone(students, mistype)

    def log_in_right(student: Student) -> None:
        answer = log_in(sessions[student.name], student, "alice", password_of(student))
        if is_even(students, student):
            assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
        else:
            assert answer.status_code == 200, answer.text

    everyone(students, log_in_right)


def test_encryption_keys(room, students):
    data = Path(room.app.instance_path)

    def key_file(student: Student) -> Path:
        return data / keys.KEYS_DIR / f"{student.workspace}.key"

    def ring(student: Student) -> MultiFernet:
        lines = key_file(student).read_text().splitlines()
        return MultiFernet([Fernet(k) for k in lines if k and not k.startswith("#")])

    def stored() -> dict[str, dict[int, str]]:
        """Read every workspace's note bodies straight from the database file."""
        conn = sqlite3.connect(data / DATABASE_FILE)
        try:
            rows = conn.execute("select workspace, id, body from notes").fetchall()
        finally:
            conn.close()
        bodies: dict[str, dict[int, str]] = {s.workspace: {} for s in students}
        for workspace, note_id, body in rows:
            bodies.setdefault(workspace, {})[note_id] = body
        return bodies

    def bodies(student: Student) -> dict[int, str]:
        """Return every note body as the API shows it (decrypted), by id."""
        response = student.get("api/notes?limit=100")
        assert response.status_code == 200, response.text
        return {n["id"]: n["body"] for n in response.json()["items"]}

    def switch_on_and_write(student: Student) -> int:
        student.switch("encryption", ON)
        note = {"title": f"{student.name}'s secret", "body": f"only {student.name} reads this"}
        response = student.post("api/notes", json=note)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    ids = named(students, everyone(students, switch_on_and_write))

    # Each reads their own note back in clear, and no classmate's.
    def reads_own(student: Student) -> dict[int, str]:
        clear = bodies(student)
        assert clear[ids[student.name]] == f"only {student.name} reads this"
        assert [b for b in clear.values() if b.startswith("only ")] == [
            f"only {student.name} reads this"
        ]
        return clear

    clear = named(students, everyone(students, reads_own))

    # A key each; every stored body is ciphertext that opens with its own workspace's key
    # and with none of the other 29.
    assert len({key_file(s).read_text() for s in students}) == ROOM
    before = stored()
    rings = {s.name: ring(s) for s in students}
    for student in students:
        mine = before[student.workspace]
        assert mine and all(is_token(body) for body in mine.values())
        opened = {i: rings[student.name].decrypt(b.encode()).decode() for i, b in mine.items()}
        assert opened == clear[student.name]
        for other in others(students, student):
            for body in mine.values():
                with pytest.raises(InvalidToken):
                    rings[other.name].decrypt(body.encode())

    # Share links: everyone shares their note; a classmate's link, sent to one's own
    # workspace, opens nothing.
    def share(student: Student) -> str:
        response = student.post(f"api/notes/{ids[student.name]}/share")
        assert response.ok, response.text
        return response.json()["url"].rsplit("/", 1)[1]

    links = named(students, everyone(students, share))

    def follow_links(student: Student) -> None:
        mine = student.get(f"encryption/shared/{links[student.name]}")
        assert mine.json()["body"] == f"only {student.name} reads this"
        theirs = student.get(f"encryption/shared/{links[classmate(students, student).name]}")
        assert is_problem(theirs, 404)["title"] == "Link from another workspace"
        assert "reads this" not in theirs.text

    everyone(students, follow_links)

    # Half the room rotates its key at once: only their keys and ciphertexts change.
    key_bytes = {s.name: key_file(s).read_bytes() for s in students}

    def rotate_if_even(student: Student) -> None:
        if is_even(students, student):
            response = student.post("encryption/rotate")
            assert response.status_code == 200, response.text
            assert response.json()["rotated"] == len(before[student.workspace])

    everyone(students, rotate_if_even)
    after = stored()
    for student in students:
        if is_even(students, student):
            assert key_file(student).read_bytes() != key_bytes[student.name]
            assert after[student.workspace] != before[student.workspace]
            new_ring = ring(student)
            for body in after[student.workspace].values():
                new_ring.decrypt(body.encode())
        else:
            assert key_file(student).read_bytes() == key_bytes[student.name]
            assert after[student.workspace] == before[student.workspace]
    assert everyone(students, bodies) == [clear[s.name] for s in students]


def test_toggles(students):
    start = everyone(students, module_states)
    assert start[0]["server"] and not start[0]["encryption"]
    assert all(states == start[0] for states in start)

    # Half the room switches the server module off, the other half encryption on; each
    # also tries the same switch in a classmate's workspace, with their own token.
    def switch(student: Student) -> None:
        module, body = ("server", OFF) if is_even(students, student) else ("encryption", ON)
        url = classmate(students, student).url + f"sandbox/modules/{module}"
        assert student.session.patch(url, json=body, timeout=30).status_code == 401
        student.switch(module, body)

    everyone(students, switch)

    def check(student: Student) -> None:
        changed = {"server": False} if is_even(students, student) else {"encryption": True}
        assert module_states(student) == {**start[0], **changed}
        expected = 404 if is_even(students, student) else 200
        assert student.get("server/get").status_code == expected

    everyone(students, check)


def test_progress_and_challenge_checks(students):
    start = named(students, everyone(students, solved))
    assert all("server.teapot" not in s for s in start.values())

    # Half the room solves the teapot challenge, and tries to solve it in a classmate's
    # workspace too, with their own token.
    def solve_if_even(student: Student) -> None:
        if is_even(students, student):
            assert student.get("server/status/418").status_code == 418
            url = classmate(students, student).url + "server/status/418"
            assert student.session.get(url, timeout=30).status_code == 401

    everyone(students, solve_if_even)

    def check(student: Student) -> None:
        now = solved(student)
        if is_even(students, student):
            assert "server.teapot" in now
        else:
            assert now == start[student.name]  # 15 classmates' teapots solved nothing here

    everyone(students, check)


def test_records(students):
    traces = named(students, everyone(students, request_of_ones_own))

    def check(student: Student) -> None:
        mine = student.get(f"sandbox/traces/{traces[student.name]}")
        assert mine.status_code == 200 and mine.json()["path"] == f"/server/anything/{student.name}"
        listing = student.get("sandbox/traces?limit=500")
        assert traces[student.name] in {t["id"] for t in listing.json()["traces"]}
        # Nothing of the other 29 in the list, and a classmate's record, by its id, is not
        # there either.
        for other in others(students, student):
            assert traces[other.name] not in listing.text and other.name not in listing.text
        theirs = traces[classmate(students, student).name]
        assert student.get(f"sandbox/traces/{theirs}").status_code == 404

    everyone(students, check)


def test_the_live_feed(students):
    all_open = threading.Barrier(ROOM)

    # Thirty feeds open at once; when all are open, everyone sends a request of their own,
    # then reads their feed to its end (SANDBOX_STREAM_SECONDS).
    def watch(student: Student) -> tuple[str, list[str]]:
        feed = student.get("sandbox/traces/stream", stream=True)
        assert feed.status_code == 200, feed.text
        with feed:
            all_open.wait(timeout=30)
            trace = request_of_ones_own(student)
            lines = list(feed.iter_lines(decode_unicode=True))
        return trace, lines

    seen = named(students, everyone(students, watch))
    for student in students:
        trace, lines = seen[student.name]
        events = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
        assert trace in {e.get("id") for e in events}, f"{student.name} missed their record"
        feed = "\n".join(lines)
        for other in others(students, student):
            assert seen[other.name][0] not in feed and other.name not in feed


def test_the_sql_console(room, students, quick_hashes):
    def act(student: Student) -> None:
        register(student, student.name, password_of(student))
        response = student.post("api/notes", json={"title": f"{student.name}'s secret"})
        assert response.status_code == 201, response.text

    everyone(students, act)
    conn = sqlite3.connect(Path(room.app.instance_path) / DATABASE_FILE)
    try:
        counted = conn.execute("select workspace, count(*) from notes group by workspace")
        rows_in_file = dict(counted.fetchall())
    finally:
        conn.close()

    def check(student: Student) -> None:
        titles = [row[0] for row in sql(student, "select title from notes")]
        assert [t for t in titles if t.endswith("'s secret")] == [f"{student.name}'s secret"]
        assert sql(student, "select username from users") == [[student.name]]
        assert sql(student, "select count(*) from notes") == [[rows_in_file[student.workspace]]]

    everyone(students, check)


def test_reset(students):
    start = named(students, everyone(students, lambda s: (note_titles(s), module_states(s))))
    solved_at_start = named(students, everyone(students, solved))

    # Everyone writes a note, solves the teapot and switches the server module off...
    def work(student: Student) -> str:
        note = student.post("api/notes", json={"title": f"{student.name}'s homework"})
        assert note.status_code == 201, note.text
        teapot = student.get("server/status/418")
        assert teapot.status_code == 418
        student.switch("server", OFF)
        return teapot.headers["X-Sandbox-Trace"]

    traces = named(students, everyone(students, work))

    # ...then half the room resets at once.
    def reset_if_even(student: Student) -> None:
        if is_even(students, student):
            assert student.post("sandbox/reset").status_code == 200

    everyone(students, reset_if_even)

    def check(student: Student) -> None:
        titles, states = start[student.name]
        trace = student.get(f"sandbox/traces/{traces[student.name]}")
        if is_even(students, student):  # back to the start, every part of it
            assert note_titles(student) == titles
            assert module_states(student) == states
            assert solved(student) == solved_at_start[student.name]
            assert trace.status_code == 404  # their records are gone too
        else:  # nothing of theirs went back
            homework = f"{student.name}'s homework"
            assert sorted(note_titles(student)) == sorted([*titles, homework])
            assert module_states(student) == {**states, "server": False}
            assert "server.teapot" in solved(student)
            assert trace.status_code == 200

    everyone(students, check)
