"""Capacity: slow answers may hold most of the server's threads, never all of them.

The server answers with a fixed pool of threads (``SANDBOX_THREADS``). A thread that
sleeps through a delay of the HTTP playground, drips bytes, or keeps a live feed open is
busy the whole time. If every thread were busy like that, the next request
(``/sandbox/health``, your click on a switch) would wait in the queue: the server would
look dead. So such answers first take a *slot*, and there are a few slots fewer than
threads: the last threads are always free for quick requests. When every slot is taken,
the slow request gets a 503 with ``Retry-After`` instead of a thread.

A client that goes away (a closed tab, a cancelled curl) gives its slot back within a
second: the waiting loops ask the server whether the client is still there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request

from .errors import SandboxError
from .record import event

# How often a waiting answer checks whether its client has gone.
CHECK_EVERY = 0.25


class ServerBusy(SandboxError):
    """Every slot for slow answers is taken."""

    status = 503
    title = "Server busy"


class Slots:
    """A counter of slow answers in progress, with a ceiling."""

    def __init__(self, threads: int):
        # Keep some threads for quick requests: a quarter of a small pool, 8 of a large one.
        self.limit = max(1, threads - min(8, max(1, threads // 4)))
        self._semaphore = threading.BoundedSemaphore(self.limit)

    def take(self) -> bool:
        """Take a slot if one is free, without waiting."""
        return self._semaphore.acquire(blocking=False)

    def give_back(self) -> None:
        """Free a slot."""
        self._semaphore.release()


def take_slot(what: str) -> None:
    """Take a slot for a slow answer, or raise a 503 problem; given back when it ends."""
    slots: Slots = current_app.extensions["sandbox.slots"]
    if not slots.take():
        event("sandbox", f"{what}: every one of the {slots.limit} slots for slow answers is busy")
        raise ServerBusy(
            f"All {slots.limit} slots for slow answers (delays, drips, streams, live feeds) are "
            "busy, and the sandbox keeps its last threads for quick requests. Wait a few "
            "seconds and try again, close tabs you no longer need, or start the sandbox with "
            "more threads (python app.py --threads N).",
            headers={"Retry-After": "5"},
        )
    g.sandbox_slot = slots


def client_gone() -> Callable[[], bool]:
    """Return a function that says whether this request's client has closed the connection.

    waitress can tell (``waitress.client_disconnected``); under another server the answer
    is always "still there", and a closed connection shows as a failed write instead.
    """
    return request.environ.get("waitress.client_disconnected") or (lambda: False)


def wait(seconds: float, gone: Callable[[], bool]) -> bool:
    """Sleep for ``seconds``, in short steps; return False early if the client has gone."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if gone():
            return False
        time.sleep(min(left, CHECK_EVERY))
    return not gone()


def _hand_over(response: Response) -> Response:
    # A streamed body is still being sent after this hook: free the slot when it is closed
    # (sent in full, or the client went away), not now.
    slots = g.pop("sandbox_slot", None)
    if slots is not None:
        response.call_on_close(slots.give_back)
    return response


def _give_back(error: BaseException | None) -> None:
    slots = g.pop("sandbox_slot", None)  # still here: the request failed before a response
    if slots is not None:
        slots.give_back()


def init_app(app: Flask) -> None:
    """Size the slots from SANDBOX_THREADS and free each one when its answer ends."""
    app.extensions["sandbox.slots"] = Slots(app.config["SANDBOX_THREADS"])
    app.after_request(_hand_over)
    app.teardown_request(_give_back)
