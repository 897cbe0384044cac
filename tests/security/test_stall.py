"""No request can stall the server: slow answers and open feeds never take the last threads.

Against `python app.py` (waitress), whose thread pool is what an attacker would try to fill.
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import is_problem, start_app


def open_feed(url: str) -> requests.Response:
    """Open a live feed the way a browser tab does, and wait for its first line."""
    response = requests.get(f"{url}/sandbox/traces/stream", stream=True, timeout=10)
    if response.status_code == 200:
        assert next(response.iter_lines()) == b"retry: 1000"
    return response


def health_time(url: str) -> float:
    started = time.perf_counter()
    assert requests.get(f"{url}/sandbox/health", timeout=5).status_code == 200
    return time.perf_counter() - started


@pytest.fixture
def small_server(tmp_path):
    """A sandbox with 12 threads: 9 of them for slow answers, 3 kept for quick requests."""
    process, url = start_app(tmp_path / "data", "--threads", "12")
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_feeds_cannot_take_the_last_threads_and_closing_them_frees_them(small_server):
    url = small_server
    feeds = [open_feed(url) for _ in range(9)]
    try:
        assert all(f.status_code == 200 for f in feeds)
        refused = open_feed(url)
        problem = is_problem(refused, 503)
        assert refused.headers["Retry-After"]
        assert "--threads" in problem["detail"]
        assert max(health_time(url) for _ in range(5)) < 1
    finally:
        for feed in feeds:
            feed.close()  # the tabs close
    # Each closed feed gives its thread back within a second or two.
    deadline = time.monotonic() + 3
    while True:
        again = open_feed(url)
        again.close()
        if again.status_code == 200:
            break
        assert time.monotonic() < deadline, "closed feeds still hold their threads"
        time.sleep(0.2)
    # All of them, not just one.
    time.sleep(1.5)
    reopened = [open_feed(url) for _ in range(9)]
    try:
        assert [f.status_code for f in reopened] == [200] * 9
    finally:
        for feed in reopened:
            feed.close()


def test_slow_playground_answers_and_feeds_leave_health_answering(tmp_path):
    # The scenario, with the default thread count: 32 slow answers, 20 open feeds.
    process, url = start_app(tmp_path / "data")
    pool = ThreadPoolExecutor(max_workers=40)
    feeds: list[requests.Response] = []
    try:
        slow = [
            pool.submit(requests.get, f"{url}/server/delay/5", timeout=30) for _ in range(16)
        ] + [
            pool.submit(requests.get, f"{url}/server/drip?duration=5&numbytes=5", timeout=30)
            for _ in range(16)
        ]
        feeds = [open_feed(url) for _ in range(20)]
        time.sleep(0.5)  # every slow request is now holding its thread
        times = [health_time(url) for _ in range(10)]
        assert max(times) < 1, times
        assert all(f.status_code == 200 for f in feeds)
        assert all(s.result().status_code == 200 for s in slow)
    finally:
        for feed in feeds:
            feed.close()
        pool.shutdown(wait=True)
        process.terminate()
        process.wait(timeout=10)


def test_thread_count_and_connection_limit_are_settings(tmp_path):
    process, url = start_app(tmp_path / "data", "--threads", "20", "--connection-limit", "300")
    try:
        settings = requests.get(f"{url}/sandbox/settings", timeout=5).json()["settings"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    values = {s["name"]: s["value"] for s in settings}
    assert values["SANDBOX_THREADS"] == 20
    assert values["SANDBOX_CONNECTION_LIMIT"] == 300


def test_slow_playground_answers_cannot_take_the_last_threads(small_server):
    url = small_server
    with ThreadPoolExecutor(max_workers=12) as pool:
        slow = [pool.submit(requests.get, f"{url}/server/delay/3", timeout=30) for _ in range(12)]
        time.sleep(0.5)
        assert max(health_time(url) for _ in range(5)) < 1
        statuses = sorted(s.result().status_code for s in slow)
    # 9 slots: nine waited their 3 s; three were told at once to come back later.
    assert statuses == [200] * 9 + [503] * 3


def test_a_client_that_hangs_up_frees_its_slot_at_once(small_server):
    url = small_server
    with ThreadPoolExecutor(max_workers=9) as pool:
        # Nine clients that give up after half a second on a 10 s delay: they hang up.
        hung_up = [
            pool.submit(requests.get, f"{url}/server/delay/10", timeout=0.5) for _ in range(9)
        ]
        for future in hung_up:
            assert isinstance(future.exception(), requests.Timeout)
    time.sleep(1)  # the server notices within a quarter of a second per slot
    reopened = [open_feed(url) for _ in range(9)]
    try:
        assert [f.status_code for f in reopened] == [200] * 9
    finally:
        for feed in reopened:
            feed.close()


def test_the_server_asks_the_os_for_enough_open_files_for_its_connections():
    """macOS gives a process 256 open files: 1,200 connections need the server to ask for more."""
    code = (
        "import select\n"
        "from sandbox.cli import open_files_for, WINDOWS_SOCKETS\n"
        "if not hasattr(select, 'poll'):\n"
        "    print(open_files_for(1200) == WINDOWS_SOCKETS)\n"
        "else:\n"
        "    import resource\n"
        "    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # as macOS starts\n"
        "    got = open_files_for(1200)\n"
        "    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]\n"
        "    print(got == 1200 and now >= 1456 if hard >= 1456 else got == now - 256)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "True", result.stderr
