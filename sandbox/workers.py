"""Worker processes: one sandbox served by several processes, so every core works.

Python runs one thread of Python code at a time in a process (the GIL): however many
threads waitress has, one process uses about one core. ``python app.py --workers 4``
serves from four processes. This one opens the listening socket, serves on it and hands
it to three more it starts; every worker runs waitress on that same socket, and the
operating system gives each new connection to one of them. It is what gunicorn and uvicorn do,
with the ``spawn`` start method: a fresh interpreter per worker, the same on Windows,
macOS and Linux (no ``fork``).

A worker has its own memory, so whatever must look the same from every worker is kept
in the data dir: notes, switches and progress in the database (as always), records and
the live feed in ``records.db`` (sandbox/shared_records.py). What a module keeps in
memory (the caching module's cache, the rate limiter's counts) is one per worker unless
it is pointed at a server of its own, such as Redis: its settings say how.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

import click

# How often the supervisor looks whether each worker is still alive.
CHECK_SECONDS = 0.5
# A worker that stops sooner than this after it started has a problem a restart will
# not fix (a port or a file it cannot open): the supervisor stops instead of looping.
TOO_SOON_SECONDS = 5


class LastIdleFirst:
    """A condition that wakes the thread that went idle last, not the one idle longest.

    waitress keeps its threads waiting on one ``threading.Condition``, which wakes them in
    the order they started waiting: a steady stream of requests, even one at a time, goes
    round all 400 threads in turn. Each thread that runs Python code keeps a cache of freed
    memory of its own (glibc's malloc keeps up to 7 blocks of each small size per thread,
    other allocators do alike), so the server's memory crept up by about 1 MB every 1,000
    requests until every thread had filled its cache (tests/bench/bench_memory.py). Woken
    last-idle-first, the same few threads serve all the requests there are at once, and
    the rest (kept for live feeds and slow answers) stay untouched until they are needed.
    Its waiters are a stack instead of a queue; the rest is ``threading.Condition``'s
    algorithm, as much of it as waitress uses (``wait`` without a timeout, ``notify``).
    """

    def __init__(self, lock: Any):
        self._lock = lock
        self._idle: list[Any] = []  # one locked lock per waiting thread, the last idle on top

    def __enter__(self) -> Any:
        return self._lock.__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._lock.__exit__(*exc)

    def wait(self) -> bool:
        """Give up the lock and sleep until notified, then take the lock again."""
        waiter = threading.Lock()
        waiter.acquire()
        self._idle.append(waiter)
        self._lock.release()
        woken = False
        try:
            woken = waiter.acquire()  # released by notify()
        finally:
            self._lock.acquire()  # held again on the way out, as the caller's `with` expects
            if not woken and waiter in self._idle:  # interrupted: spend no notify on it
                self._idle.remove(waiter)
        return True

    def notify(self, n: int = 1) -> None:
        """Wake up to ``n`` waiting threads, the last to go idle first."""
        for _ in range(min(n, len(self._idle))):
            self._idle.pop().release()

    def notify_all(self) -> None:
        """Wake every waiting thread (waitress: to stop them)."""
        self.notify(len(self._idle))


def waitress_server(app: Any, **options: Any) -> Any:
    """Return waitress's server for ``app``, its idle threads woken last-idle-first."""
    from waitress.server import create_server
    from waitress.task import ThreadedTaskDispatcher

    dispatcher = ThreadedTaskDispatcher()
    dispatcher.queue_cv = LastIdleFirst(dispatcher.lock)  # what its threads wait on
    dispatcher.set_thread_count(options["threads"])
    return create_server(app, _dispatcher=dispatcher, **options)


def default_count(class_mode: bool) -> int:
    """Return how many workers suit this machine: for a class, one per core (up to four).

    One learner on a laptop never keeps two cores busy, and one process starts faster and
    uses less memory (about 70 MB per worker); a room of students does.
    """
    return max(1, min(os.cpu_count() or 1, 4)) if class_mode else 1


def _serve_one(config: dict[str, Any], sock: socket.socket, options: dict[str, Any]) -> None:
    """Run in a worker process: build the app and serve it on the supervisor's socket."""
    from . import create_app
    from .registry import shutdown

    # A worker whose supervisor is gone (killed, or its console closed) goes too: it must
    # not keep serving the port with nobody to stop it.
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(
            target=lambda: (parent.join(), os._exit(0)), name="sandbox-orphan-watch", daemon=True
        ).start()
    if hasattr(signal, "SIGTERM"):  # the supervisor's stop: finish like Ctrl+C
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = create_app(config)
    server = waitress_server(app, sockets=[sock], **options)
    threading.Thread(target=importlib.import_module, args=("sqlite_utils",), daemon=True).start()
    try:
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        shutdown(app)


class Supervisor:
    """Serve on one listening socket from this process and ``count - 1`` more, kept running.

    This process is a worker too: it answers as soon as it listens, as one process would,
    while the others start (each imports everything afresh: a second or more).
    """

    def __init__(
        self,
        app: Any,
        config: dict[str, Any],
        host: str,
        port: int,
        count: int,
        options: dict[str, Any],
    ):
        self.config, self.count, self.options = config, count, options
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # create_server sets SO_REUSEADDR where it is safe (not Windows): a restart does not
        # wait for the old connections' TIME_WAIT.
        self.socket = socket.create_server((host, port), family=family, backlog=options["backlog"])
        self.effective_port = self.socket.getsockname()[1]
        self.server = waitress_server(app, sockets=[self.socket], **options)
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[Any] = []
        self._stopping = threading.Event()

    def _start(self) -> Any:
        process = self._context.Process(
            target=_serve_one,
            args=(self.config, self.socket, self.options),
            name="sandbox-worker",
            daemon=False,
        )
        process.start()
        process.started_at = time.monotonic()
        return process

    def run(self) -> None:
        """Start the other workers, serve here until Ctrl+C or a stop signal, stop them all."""
        # `kill <pid>` (SIGTERM) stops the workers too, as Ctrl+C does.
        if hasattr(signal, "SIGTERM"):
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            self._processes = [self._start() for _ in range(self.count - 1)]
            threading.Thread(target=self._watch, name="sandbox-supervisor", daemon=True).start()
            self.server.run()
        finally:
            self.close()

    def _watch(self) -> None:
        """Start another worker when one stops; give up on one that cannot start at all."""
        while not self._stopping.wait(CHECK_SECONDS):
            for index, process in enumerate(self._processes):
                if process is None or process.is_alive() or self._stopping.is_set():
                    continue
                if time.monotonic() - process.started_at < TOO_SOON_SECONDS:
                    # A problem a restart will not fix (its error is printed above): this
                    # process goes on serving alone rather than start it again and again.
                    click.echo(
                        f"A worker stopped {TOO_SOON_SECONDS} s after it started (exit code "
                        f"{process.exitcode}); serving with one process fewer.",
                        err=True,
                    )
                    self._processes[index] = None
                    continue
                click.echo(
                    f"Worker {process.pid} stopped (exit code {process.exitcode}); "
                    "starting another.",
                    err=True,
                )
                self._processes[index] = self._start()

    def close(self) -> None:
        """Stop every worker (each finishes what it runs in the background) and the socket."""
        self._stopping.set()
        processes = [p for p in self._processes if p is not None]
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        self.server.close()
        self.socket.close()
