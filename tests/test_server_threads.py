"""waitress's threads, as the sandbox runs them: a steady load stays on a few (issue 9).

Every thread that has run requests keeps memory of its own (the allocator's cache of freed
blocks), so a server whose requests went round all 400 threads in turn grew for 100,000
requests (tests/bench/bench_memory.py). These tests serve a tiny WSGI app that answers
with the name of the thread that ran it, through ``sandbox.workers.waitress_server``.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from sandbox.workers import waitress_server

THREADS = 40


def thread_name(environ, start_response):
    """Answer with the name of the thread that runs this request."""
    wait = environ.get("sandbox.test.barrier")
    if wait is not None:
        wait()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [threading.current_thread().name.encode()]


@contextmanager
def served(app=thread_name) -> Iterator[tuple[int, object]]:
    """Serve ``app`` with waitress on a free port; yield the port and the server."""
    server = waitress_server(
        app, host="127.0.0.1", port=0, threads=THREADS, asyncore_loop_timeout=0.05
    )
    runner = threading.Thread(target=server.run, daemon=True)
    runner.start()
    try:
        yield server.effective_port, server
    finally:
        server.task_dispatcher.shutdown()  # what run() does on Ctrl+C: threads finish first
        server.trigger.pull_trigger(server.close)  # closed by its own loop, not under it
        runner.join(timeout=5)


def get(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/")
    name = conn.getresponse().read().decode()
    conn.close()
    return name


def test_requests_one_at_a_time_run_on_one_thread_not_on_all_of_them_in_turn():
    with served() as (port, _):
        names = {get(port) for _ in range(3 * THREADS)}
    # Woken in the order they went idle, all 40 threads would take turns. Woken last-idle
    # first, the one that just answered takes the next request, or, when the next arrives
    # before it is back (it answers, then tidies up), the one before it: 2 to 6 measured.
    assert len(names) <= THREADS // 4, names


def test_four_clients_at_once_use_about_four_threads():
    with served() as (port, _), ThreadPoolExecutor(4) as clients:
        names = set(clients.map(lambda _: get(port), range(10 * THREADS)))
    assert len(names) <= THREADS // 2, names  # 4 to 8 measured; all 40 in turn before


def test_every_thread_still_answers_when_that_many_requests_wait_at_once():
    barrier = threading.Barrier(THREADS, timeout=10)

    def all_at_once(environ, start_response):
        environ["sandbox.test.barrier"] = barrier.wait  # each waits for all the others
        return thread_name(environ, start_response)

    with served(all_at_once) as (port, _), ThreadPoolExecutor(THREADS) as clients:
        names = set(clients.map(lambda _: get(port), range(THREADS)))
    assert len(names) == THREADS  # every sleeping thread was woken, none was lost


def test_stopping_the_server_stops_every_thread_even_those_that_never_ran():
    with served() as (port, server):
        get(port)
        # Ctrl+C: waitress wakes every idle thread to tell it to stop, and waits for them.
        assert server.task_dispatcher.shutdown(timeout=5) is True
        assert server.task_dispatcher.threads == set()
