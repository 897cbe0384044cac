"""Logging: structured logs, a log viewer and planted bugs to find

One JSON line per event, each carrying the id of its request's record, levels set
live per module, secrets redacted; a viewer that filters and follows them; and, for
the detective work, a bug planted at random that the learner finds from the logs, the
records and their SQL. Off: plain print-style lines, and no bug.
"""

import logging
from typing import Any

from flask import Flask, got_request_exception

from sandbox import workspaces
from sandbox.record import Record, current_record, on_close
from sandbox.registry import Module, registry

from . import bugs, logs
from .challenges import CHALLENGES
from .handle import logs as sb_logs
from .openapi import openapi
from .views import bp, open_bp


def _on(app: Flask) -> bool:
    return registry().is_enabled("logging") if "sandbox.registry" in app.extensions else False


def init_app(app: Flask) -> None:
    logs.install(app)

    def each_record(record: Record, _buffer: Any) -> None:
        # Every record, a request's or a job's, becomes log lines: structured while the
        # module is on, one print-style line while it is off.
        try:
            if _on(app):
                logs.structured(record)
            else:
                logs.plain(app, workspaces.current(), record)
        except Exception:  # a log line must never break the request it is about
            logging.getLogger(__name__).exception("a record could not be logged")

    def unhandled(sender: Flask, exception: BaseException, **_: Any) -> None:
        if sender is app and _on(app):
            logs.track(current_record(), exception)

    on_close(app, each_record)
    # Flask announces an unhandled exception while its traceback is still there to read.
    got_request_exception.connect(unhandled, app)  # weak: kept alive by the app
    app.extensions["sandbox.logging_unhandled"] = unhandled


def reset(conn: Any, workspace: str) -> None:
    """Forget the workspace's planted bug and levels."""
    conn.execute("delete from logging_bugs where workspace = ?", (workspace,))
    conn.execute("delete from logging_levels where workspace = ?", (workspace,))


def workspace_reset(workspace: str) -> None:
    bugs.forget()
    app_levels = logs.levels()
    app_levels.forget()
    logs.forget(workspace=workspace)


module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    works_when_off=(open_bp,),
    challenges=CHALLENGES,
    enabled_by_default=False,
    wraps={"note_storage": bugs.BuggyStorage},
    listens={"workspace_reset": workspace_reset},
    reset=reset,
    init_app=init_app,
    openapi=openapi,
    nav_links=(("Logs", "logging_open.viewer"),),
    handle={"logs": sb_logs},
    settings={
        "SANDBOX_LOG_LEVEL": "INFO",  # each module's level until a workspace sets its own
        "SANDBOX_LOG_LIMIT": 5000,  # log lines kept in memory per workspace, for the viewer
        # A file for the JSON lines (python app.py --log-file PATH), rotated at this size,
        # keeping this many old files beside it (PATH.1, PATH.2...).
        "SANDBOX_LOG_FILE": None,
        "SANDBOX_LOG_FILE_BYTES": 5_000_000,
        "SANDBOX_LOG_FILE_KEEP": 3,
        # How long the lost-update bug's slow step takes: two edits closer than this collide.
        "SANDBOX_LOG_RACE_WINDOW": 0.3,
    },
    # The planted bug is each learner's own secret: a hand-out does not plant the same one
    # (known to its maker) in every workspace.
    not_handed_out=("logging_bugs",),
)
