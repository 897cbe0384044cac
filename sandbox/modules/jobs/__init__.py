"""Jobs: slow work leaves the request, for a queue and its workers

Exporting every note to an archive takes seconds. With the module off the request
does it while the client waits. With it on, the request only puts a message on a queue
(huey, kept in a SQLite file of its own) and answers 202 Accepted at once; a worker
thread builds the archive, as the user who asked, with a record of its own linked to
the request. A job that fails is retried with a growing delay; a job still waiting when
the server stops is still there when it starts again.
"""

from typing import Any

from flask import Flask

from sandbox.registry import Module

from . import export, store
from .challenges import CHALLENGES
from .openapi import openapi
from .queue import backend
from .runner import job_queue, recover
from .views import bp, export_bp


def init_app(app: Flask) -> None:
    """Refuse a queue URL huey cannot use when the server starts, not at the first job."""
    backend(app.config["SANDBOX_JOBS_URL"], app.instance_path)


def start(app: Flask) -> None:
    """Start the queue's workers in this process (the module is on somewhere)."""
    queue = job_queue(app)
    recover(app)  # jobs a killed server left running go back on the queue first
    queue.start()


def stop(app: Flask) -> None:
    """Stop the workers gracefully: a running job finishes or goes back on the queue."""
    queue = app.extensions.get("sandbox.jobs")
    if queue is not None:
        queue.stop()


def workspace_reset(workspace: str) -> None:
    """Delete the workspace's archives (its jobs' rows went with the reset)."""
    export.forget(workspace)


def reset(conn: Any, workspace: str) -> None:
    store.reset(conn, workspace)


module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    works_when_off=(export_bp,),
    challenges=CHALLENGES,
    enabled_by_default=False,
    init_app=init_app,
    start=start,
    stop=stop,
    reset=reset,
    listens={"workspace_reset": workspace_reset},
    openapi=openapi,
    settings={
        # None: the queue lives in jobs.db in the data dir, and this server's threads run it.
        # redis://host:6379/0 (pip install redis): one queue for several servers or machines.
        "SANDBOX_JOBS_URL": None,
        "SANDBOX_JOBS_WORKERS": 2,  # worker threads: how many jobs run at once
        "SANDBOX_JOBS_RETRIES": 2,  # how many times a failed job is tried again
        "SANDBOX_JOBS_RETRY_DELAY": 1,  # seconds before the first retry; doubles each time
    },
)
