"""Caching: keep an answer, skip the work next time

A cache in front of the notes (whichever storage is on) and in front of an expensive
report: the second request for the same thing is answered from memory, many times
faster. Keys name who is asking, so one user's copy is never another's; a write drops
the copies it made stale. Switch invalidation off to watch a stale read happen; switch
the module off and every request computes its answer again.
"""

from typing import Any

from flask import Flask

from sandbox.registry import Module

from . import cache
from .challenges import CHALLENGES
from .openapi import openapi
from .storage import CachedStorage, note_changed, on_toggle, workspace_reset
from .views import bp, mark_response, open_bp


def reset(conn: Any, workspace: str) -> None:
    """Forget the workspace's cache options (the copies go with the workspace_reset event)."""
    conn.execute("delete from caching_options where workspace = ?", (workspace,))


def init_app(app: Flask) -> None:
    cache.init_app(app)


module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    works_when_off=(open_bp,),
    challenges=CHALLENGES,
    enabled_by_default=False,
    wraps={"note_storage": CachedStorage},
    listens={"note_changed": note_changed, "workspace_reset": workspace_reset},
    after_request=mark_response,
    on_toggle=on_toggle,
    reset=reset,
    init_app=init_app,
    openapi=openapi,
    settings={
        # None: a cache in this server's memory. redis://host:6379/0 or memcached://host:11211
        # for one cache shared by several server processes or machines.
        "SANDBOX_CACHE_URL": None,
        "SANDBOX_CACHE_TTL": 300,  # seconds a cached copy is kept, unless a workspace changes it
    },
)
