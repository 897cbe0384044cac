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

from sandbox.record import event
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


def restored(conn: Any, workspace: str) -> str | None:
    """Queue again the jobs a snapshot saved while they waited or ran; say which."""
    waiting = store.waiting_after_restore(conn, workspace)
    if not waiting:
        return None
    queue = job_queue()
    for job_id in waiting:
        # Queued before the restore commits: a worker quick enough to read the row first
        # reads the state before the restore, and runs the job only if it is queued there
        # (runner.run_try), so a job runs once, and a restore that fails runs nothing new.
        queue.enqueue(queue.message(workspace, job_id))
    ids = ", ".join(str(i) for i in waiting)
    said = f"{len(waiting)} unfinished job(s) from the snapshot queued again: {ids}"
    switched = conn.execute(  # the restored switch: the cached one is from before
        "select enabled from module_state where workspace = ? and name = 'jobs'", (workspace,)
    ).fetchone()
    if not (switched[0] if switched else module.enabled_by_default):
        said += " (they run once the jobs module is on)"
    event("jobs", said, requeued=waiting)
    return said


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
    restored=restored,
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
    # A hand-out carries no jobs: they are the history of the workspace it was taken of
    # (its owner, its archives), not a starting state.
    not_handed_out=("jobs",),
)
