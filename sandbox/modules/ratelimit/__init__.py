"""Rate limiting: a fair share of the server for everyone

A limit on how many requests each client may send in a window of time, on the notes
API and the HTTP playground: past it, a 429 that says when to come back (Retry-After),
and on every answer the RateLimit-* headers say how many are left. Each user (each
address, for the guest) has a count of their own, per workspace; the limit comes from
the settings and each workspace may change its own. Switch it off and one client's
flood slows everyone down.
"""

from flask import Flask

from sandbox.registry import Module

from . import limiter
from .challenges import CHALLENGES
from .openapi import openapi
from .views import bp


def init_app(app: Flask) -> None:
    limiter.init_app(app)


module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    challenges=CHALLENGES,
    enabled_by_default=False,
    before_request=limiter.check,
    after_request=limiter.add_headers,
    listens={"workspace_reset": limiter.forget},
    reset=limiter.reset,
    init_app=init_app,
    start=limiter.start,  # a thread that sweeps expired counts from memory, while on
    stop=limiter.stop,
    openapi=openapi,
    settings={
        # The limit of each client (each user; the guest: each address), unless a workspace
        # changes its own (PATCH /ratelimit/settings): requests/window, e.g. "3/2second".
        "SANDBOX_RATELIMIT_DEFAULT": "60/minute",
        # How requests are counted: fixed-window, moving-window or sliding-window-counter.
        "SANDBOX_RATELIMIT_STRATEGY": "fixed-window",
        # None: counts in this server's memory. redis://host:6379/0 (pip install redis) for
        # one count shared by several server processes or machines.
        "SANDBOX_RATELIMIT_STORAGE_URL": None,
    },
)
