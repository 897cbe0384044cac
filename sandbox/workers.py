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


def default_count(class_mode: bool) -> int:
    """Return how many workers suit this machine: for a class, one per core (up to four).

    One learner on a laptop never keeps two cores busy, and one process starts faster and
    uses less memory (about 70 MB per worker); a room of students does.
    """
    return max(1, min(os.cpu_count() or 1, 4)) if class_mode else 1


def _serve_one(config: dict[str, Any], sock: socket.socket, options: dict[str, Any]) -> None:
    """Run in a worker process: build the app and serve it on the supervisor's socket."""
    from waitress.server import create_server

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
    server = create_server(app, sockets=[sock], **options)
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
        from waitress.server import create_server

        self.config, self.count, self.options = config, count, options
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # create_server sets SO_REUSEADDR where it is safe (not Windows): a restart does not
        # wait for the old connections' TIME_WAIT.
        self.socket = socket.create_server((host, port), family=family, backlog=options["backlog"])
        self.effective_port = self.socket.getsockname()[1]
        self.server = create_server(app, sockets=[self.socket], **options)
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
