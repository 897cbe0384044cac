"""Running a job on a worker thread: as the user who asked, with a record of its own.

A worker thread has no request: no URL saying whose workspace it is, no cookie saying
who is asking. So the job carries both. Its row names the workspace and the identity of
whoever enqueued it; the worker opens a record for the try (``outside_request``: its SQL
and events land there, and ``parent`` links it to the request that queued it) and sets
that identity as the one the note store asks for. The job then sees exactly the notes
its owner would see, no more.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from flask import Flask, current_app, g
from huey.exceptions import RetryTask

from sandbox import db
from sandbox.identity import Identity
from sandbox.record import event, outside_request

from . import export, store
from .queue import JobQueue

_made = threading.Lock()


def job_queue(app: Flask | None = None) -> JobQueue:
    """Return the app's queue, made the first time it is needed."""
    app = app or current_app._get_current_object()
    queue = app.extensions.get("sandbox.jobs")
    if queue is None:
        with _made:  # two requests at once must not make two queues
            queue = app.extensions.get("sandbox.jobs")
            if queue is None:
                queue = app.extensions["sandbox.jobs"] = JobQueue(app, _task(app))
    return queue


def _task(app: Flask) -> Any:
    def export_notes(workspace: str, job_id: int, task: Any = None) -> None:
        run_try(app, workspace, job_id, retries_left=task.retries, retry_in=task.retry_delay)

    return export_notes


def run_try(app: Flask, workspace: str, job_id: int, *, retries_left: int, retry_in: float) -> None:
    """Run one try of a job; raise if it failed, so the queue retries it."""
    row = store.peek(db.database_path(app), workspace, job_id)
    if row is None:
        return  # the workspace was reset since: nothing to do, nobody to tell
    if row["status"] != "queued":
        # A second message for one job (a snapshot's restore queues its unfinished jobs
        # again, and the first message may still be waiting): the job runs once.
        return
    attempt = row["attempts"] + 1
    what = f"export notes: job {job_id}, try {attempt}"
    with outside_request(app, workspace, "JOB", what, parent=row["request_record"]) as record:
        # The note store asks current_identity(), which keeps its answer in g for the rest of
        # the request. This is the job's own g (its own app context): the job runs as its owner.
        g.sandbox_identity = Identity(**json.loads(row["identity"]))
        thread = threading.current_thread().name
        if store.start_try(job_id, record.id, thread) is None:
            event("jobs", f"job {job_id} is gone (the workspace was reset): nothing to do")
            return
        event(
            "jobs",
            f"job {job_id}: try {attempt} on {thread}, as {row['owner']}; queued by request "
            f"{row['request_record']}",
            job=job_id,
            attempt=attempt,
            status="running",
        )
        try:
            fail_times = json.loads(row["options"]).get("fail_times", 0)
            if attempt <= fail_times:
                raise export.ExportFailed(
                    f"try {attempt} failed on purpose (fail_times={fail_times}): the outbox "
                    "did not answer"
                )
            result = export.build(f"job-{job_id}", stopping=job_queue(app).stopping)
        except export.Interrupted as stopped:
            _requeued(job_id, attempt, str(stopped))
            # RetryTask puts the message back without counting a failure: this try did not
            # fail, the server is stopping. The queue keeps it in its file for the next start.
            raise RetryTask(str(stopped), delay=0) from None
        except Exception as error:
            _failed(job_id, attempt, error, retries_left, retry_in)
            raise
        store.end_try(job_id, "done", result=result)
        event(
            "jobs",
            f"job {job_id} done after {attempt} {'try' if attempt == 1 else 'tries'}",
            job=job_id,
            attempt=attempt,
            status="done",
        )


def _failed(job_id: int, attempt: int, error: Exception, retries_left: int, retry_in: float):
    message = f"{type(error).__name__}: {error}"
    if retries_left > 0:
        store.end_try(job_id, "queued", error=message, retry_in=retry_in)
        event(
            "jobs",
            f"job {job_id}: try {attempt} failed ({message}); the queue retries it in "
            f"{retry_in:g} s ({retries_left} {'retry' if retries_left == 1 else 'retries'} left)",
            job=job_id,
            attempt=attempt,
            status="queued",
            retry_in=retry_in,
        )
    else:
        store.end_try(job_id, "failed", error=message)
        event(
            "jobs",
            f"job {job_id} failed for good: try {attempt} failed ({message}) and no retry is left",
            job=job_id,
            attempt=attempt,
            status="failed",
        )


def _requeued(job_id: int, attempt: int, why: str) -> None:
    store.end_try(job_id, "queued", error=f"interrupted: {why}", outcome="interrupted")
    event(
        "jobs",
        f"job {job_id}: try {attempt} interrupted ({why}); back in the queue, to run again "
        "from the start when the server is back",
        job=job_id,
        attempt=attempt,
        status="queued",
    )


def recover(app: Flask) -> None:
    """Queue again the jobs a killed server left running (see store.orphans)."""
    queue = job_queue(app)
    for row in store.orphans(db.database_path(app)):
        queue.enqueue(queue.message(row["workspace"], row["id"]))
