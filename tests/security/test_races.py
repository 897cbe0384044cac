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
