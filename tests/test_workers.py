"""Several worker processes (``python app.py --workers N``) behave as one sandbox.

A learner's requests land on any worker. What one worker recorded, switched, solved or
reset must be what every other one shows: two apps on one data dir stand for two
processes here (each has its own memory, as a process does), and one test starts the
real thing, ``python app.py --workers 2``, and looks from outside.
"""

from __future__ import annotations

import queue
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests
from helpers import start_app

from sandbox import create_app
from sandbox import workers as workers_module
from sandbox.record import Message, Record
from sandbox.registry import STATE_TTL, shutdown
from sandbox.shared_records import SharedRecords


@pytest.fixture
def workers(tmp_path):
    """Two apps on one data dir, each with its own memory: two worker processes."""
    config = {"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_WORKERS": 2}
    first = create_app(config)
    second = create_app(config)
    yield first, second
    for app in (first, second):
        shutdown(app)


def _messages(subscriber: queue.Queue, kind: str, timeout: float = 3) -> list[Message]:
    """Return the messages of ``kind`` that arrive within ``timeout``, or fail."""
    found, deadline = [], time.monotonic() + timeout
    while not found and time.monotonic() < deadline:
        try:
            message = subscriber.get(timeout=0.1)
        except queue.Empty:
            continue
        if message.kind == kind:
            found.append(message)
    return found


def _solved(app) -> set[str]:
    challenges = app.test_client().get("/sandbox/progress").json["challenges"]
    return {c["id"] for c in challenges if c["solved"]}


def test_a_record_made_by_one_worker_is_read_and_listed_through_another(workers):
    first, second = workers
    made = first.test_client().get("/server/get?worker=first")
    trace_id = made.headers["X-Sandbox-Trace"]

    read = second.test_client().get(f"/sandbox/traces/{trace_id}")
    assert read.status_code == 200, read.get_data(as_text=True)
    assert read.json["path"] == "/server/get"
    assert read.json["query"] == {"worker": "first"}
    listed = second.test_client().get("/sandbox/traces").json
    assert trace_id in [r["id"] for r in listed["traces"]]


def test_a_live_feed_on_one_worker_streams_what_another_recorded(workers):
    first, second = workers
    buffer = second.extensions["sandbox.records"].get("local")
    subscriber, _ = buffer.subscribe()
    try:
        trace_id = first.test_client().get("/server/get").headers["X-Sandbox-Trace"]
        seen = _messages(subscriber, "trace")
        assert trace_id in [m.data["id"] for m in seen]
    finally:
        buffer.unsubscribe(subscriber)


def test_a_feed_that_reconnects_to_another_worker_gets_exactly_what_it_missed(workers):
    first, second = workers
    client = first.test_client()
    before = client.get("/server/get").headers["X-Sandbox-Trace"]
    last_seen = first.extensions["sandbox.records"].get("local").subscribe()[1]
    missed = [client.get(f"/server/get?n={n}").headers["X-Sandbox-Trace"] for n in range(3)]

    # The browser comes back with Last-Event-ID, and this time lands on the other worker.
    subscriber, _ = second.extensions["sandbox.records"].get("local").subscribe(after=last_seen)
    replayed = []
    while not subscriber.empty():
        message = subscriber.get_nowait()
        assert message.kind != "missed"
        if message.kind == "trace":
            replayed.append(message.data["id"])
    assert replayed == missed
    assert before not in replayed


def test_a_challenge_spanning_two_requests_on_two_workers_is_solved_and_announced_once(workers):
    first, second = workers
    # api.fix_422: a 422 first, then the same write succeeds. Each lands on another worker.
    refused = first.test_client().post("/api/notes", json={"title": 42})
    assert refused.status_code == 422
    fixed = second.test_client().post("/api/notes", json={"title": "Forty-two", "body": ""})
    assert fixed.status_code == 201
    for app in workers:
        progress = {
            c["id"]: c for c in app.test_client().get("/sandbox/progress").json["challenges"]
        }
        assert progress["api.fix_422"]["solved"], app
    solved_events = [
        e
        for app in workers
        for r in app.extensions["sandbox.records"].get("local").recent()
        for e in r.events
        if e.get("challenge") == "api.fix_422"
    ]
    assert solved_events, "the solve was not noted in any record"
    records_solving = {
        r.id
        for r in first.extensions["sandbox.records"].get("local").recent()
        if any(e.get("challenge") == "api.fix_422" for e in r.events)
    }
    assert records_solving == {fixed.headers["X-Sandbox-Trace"]}


def test_a_reset_through_one_worker_is_seen_by_the_other(workers):
    first, second = workers
    # Solve something through the second worker and switch a module off through it.
    teapot = second.test_client().get("/server/status/418").headers["X-Sandbox-Trace"]
    assert (
        second.test_client().patch("/sandbox/modules/api", json={"enabled": False}).status_code
        == 200
    )
    time.sleep(STATE_TTL + 0.1)  # how long a worker trusts what it cached
    assert "server.teapot" in _solved(first)
    assert first.test_client().get("/api/notes").status_code == 404  # off everywhere

    # Reset through the first worker: the second one's records, switches and progress follow.
    assert first.test_client().post("/sandbox/reset").status_code == 200
    time.sleep(STATE_TTL + 0.1)
    client = second.test_client()
    assert client.get("/api/notes").status_code == 200
    assert _solved(second) == set()
    assert client.get(f"/sandbox/traces/{teapot}").status_code == 404
    # The teapot is solvable again, through either worker, and counted once.
    client.get("/server/status/418")
    assert "server.teapot" in _solved(first)


def test_the_shared_file_stays_bounded(tmp_path, monkeypatch):
    from sandbox import shared_records

    monkeypatch.setattr(shared_records, "KEPT", 300)
    shared = SharedRecords(tmp_path / "records.db", limit=50)
    for n in range(2000):
        shared.write_record("local", Record(id=f"r{n}", method="GET", path="/", wall=time.time()))
    kept = shared._conn.execute("select count(*) from log").fetchone()[0]
    shared.close()
    assert kept <= 300 + shared_records.TRIM_EVERY


def _two_workers(tmp_path):
    """Start `python app.py --workers 2` as a learner would; its output is kept for asserts."""
    return start_app(
        tmp_path / "data",
        "--workers",
        "2",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_python_app_py_with_two_workers_serves_one_sandbox_from_two_processes(tmp_path):
    process, base = _two_workers(tmp_path)
    try:
        # Many clients at once: both processes answer (the second may take a moment to start),
        # and every record is readable through whichever worker the next request reaches.
        def one(n):
            with requests.Session() as s:
                r = s.get(f"{base}/server/get?n={n}", timeout=10)
                return r.headers["X-Sandbox-Trace"]

        processes: set[int] = set()
        deadline = time.monotonic() + 30
        while len(processes) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(16) as pool:
                ids = list(pool.map(one, range(50)))
            for trace_id in ids:
                record = requests.get(f"{base}/sandbox/traces/{trace_id}", timeout=10)
                assert record.status_code == 200, record.text
                processes.add(record.json()["worker"])
        assert len(processes) == 2, processes
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert "2 workers" in out, out
    assert "Traceback" not in out, out
    # Stopping the supervisor stops its workers: none is left holding the port.
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in processes if psutil.pid_exists(pid)]


def _workers_of(process) -> list[int]:
    """Return the worker processes a supervisor started (it serves too)."""
    children = psutil.Process(process.pid).children()
    return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]


def test_a_worker_that_dies_is_replaced_and_the_sandbox_keeps_answering(tmp_path):
    process, base = _two_workers(tmp_path)
    try:
        time.sleep(workers_module.TOO_SOON_SECONDS)  # past the "fails at start" window
        (pid,) = _workers_of(process)  # the other worker is the supervisor itself
        psutil.Process(pid).kill()
        # Every request is answered meanwhile (by the supervisor, then by both again).
        for _ in range(40):
            assert requests.get(f"{base}/server/get", timeout=10).status_code == 200
            time.sleep(0.05)
        (new,) = _workers_of(process)
        assert new != pid
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert f"Worker {pid} stopped" in out, out


def test_a_note_changed_through_one_worker_is_never_served_stale_from_the_others_cache(workers):
    first, second = workers
    for app in workers:
        app.test_client().patch("/sandbox/modules/caching", json={"enabled": True})
    time.sleep(STATE_TTL + 0.1)
    reader, writer = second.test_client(), first.test_client()
    assert reader.get("/api/notes/1").headers["X-Cache"] == "miss"
    assert reader.get("/api/notes/1").headers["X-Cache"] == "hit"  # kept by the reader's worker
    changed = writer.patch("/api/notes/1", json={"title": "Changed through the other worker"})
    assert changed.status_code == 200
    again = reader.get("/api/notes/1")
    assert again.json["title"] == "Changed through the other worker"


def test_guessing_an_instructors_password_is_throttled_across_workers(tmp_path):
    from helpers import class_app

    from sandbox.class_instructors import FAILURES_ALLOWED, TooManyAttempts

    first, second = class_app(tmp_path / "data"), class_app(tmp_path / "data")
    throttles = [app.extensions["sandbox.class_throttle"] for app in (first, second)]
    for n in range(FAILURES_ALLOWED):  # the guesses land on both workers in turn
        throttles[n % 2].check("10.0.0.9")
        throttles[n % 2].failed("10.0.0.9")
    for throttle in throttles:
        with pytest.raises(TooManyAttempts):
            throttle.check("10.0.0.9")
        throttle.check("10.0.0.10")  # another address is not held back
    for app in (first, second):
        shutdown(app)


def test_the_class_dashboard_of_one_worker_shows_what_students_did_through_another(tmp_path):
    from helpers import join, serve

    config = {
        "SANDBOX_DATA_DIR": str(tmp_path / "data"),
        "SANDBOX_CLASS_MODE": True,
        "SANDBOX_WORKERS": 2,
    }
    first = create_app(config)
    password = first.extensions["sandbox.class_first_password"]
    second = create_app(config)  # started after: it has seen no student yet
    with serve(first) as one, serve(second) as two:
        ada = join(one, "Ada")
        assert ada.request("GET", "/api/notes/999999").status_code == 404
        login = requests.post(
            f"{two.url}/class/login", json={"name": "instructor", "password": password}
        )
        token = login.json()["token"]
        students = requests.get(
            f"{two.url}/class/api/students", headers={"X-Sandbox-Token": token}, timeout=30
        ).json()["students"]
    (row,) = [s for s in students if s["name"] == "Ada"]
    assert row["last_activity"] is not None
    assert row["last_error"]["status"] == 404
    for app in (first, second):
        shutdown(app)
