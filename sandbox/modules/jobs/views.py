"""The jobs module's routes: the export (in the request, or queued), the jobs, the queue.

``POST /api/notes/export`` answers whether the module is on or off (``works_when_off``):
off, the archive is built while the client waits; on, the request only queues a job and
answers ``202 Accepted`` at once, with where to ask how it is going (``Location``).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, jsonify, url_for
from pydantic import Field

from sandbox import db
from sandbox.errors import NotFound, SandboxError
from sandbox.identity import owner_filter, require_identity
from sandbox.record import current_record, event
from sandbox.registry import registry
from sandbox.validation import Body, Whole, read_optional

from . import export, store
from .runner import job_queue

bp = Blueprint("jobs", __name__, url_prefix="/jobs")
# The export lives with the other note routes under /api, but belongs to this module, and
# answers with the module off too: the same request, timed both ways, is the lesson.
export_bp = Blueprint("jobs_export", __name__, url_prefix="/api")

FAIL_TIMES_MAX = 10
LIST_MAX = 50


class NoQueue(SandboxError):
    """A failure asked for with the module off, where nothing would retry it."""

    status = 409
    title = "No queue to retry"


class ExportOptions(Body):
    """Options of an export: all optional."""

    fail_times: Whole = Field(
        0,
        ge=0,
        le=FAIL_TIMES_MAX,
        description=f"a whole number from 0 to {FAIL_TIMES_MAX}: make the first tries fail on "
        "purpose (jobs on only), to watch the queue retry them",
    )


@export_bp.post("/notes/export")
def export_notes() -> Any:
    """Make an archive of your notes: in this request (module off) or as a job (on)."""
    # A body is optional: none at all means no options. One that is there must be JSON
    # (a body of blanks is not), whatever its Content-Type claims.
    fail_times = read_optional(ExportOptions).fail_times
    # Making an archive changes something (a file, a job): a read-only token may not.
    identity = require_identity(write=True)
    if not registry().is_enabled("jobs"):
        return in_the_request(int(fail_times))
    queue, parent = job_queue(), current_record()
    # The row first, committed, then the message: a worker that picks the message up at
    # once must find the job it names.
    task_id = str(uuid.uuid4())
    options = {"fail_times": int(fail_times)}
    job_id = store.create(identity, options, task_id, parent.id if parent else None)
    queue.enqueue(queue.message(db.workspace(), job_id, task_id))
    event(
        "jobs",
        f"job {job_id} queued ({queue.backend}); a worker thread will build the archive. "
        f"Poll GET /jobs/{job_id}",
        job=job_id,
        status="queued",
    )
    job = store.get(job_id, None)
    location = url_for("jobs.get_job", job_id=job_id)
    # 202 Accepted: "taken on, not done yet". Retry-After: how long to wait between polls.
    return jsonify({**job, "url": location}), 202, {"Location": location, "Retry-After": "1"}


def in_the_request(fail_times: int) -> Any:
    """Build the archive while the client waits, as a server without a queue does."""
    if fail_times:
        raise NoQueue(
            "fail_times makes the export fail on purpose so that you can watch a queue retry "
            "it; with the jobs module off the export runs inside this request, and nothing "
            "would retry it. Switch jobs on first: PATCH /sandbox/modules/jobs "
            '{"enabled": true} or sb.enable("jobs").'
        )
    event("jobs", "jobs off: the export runs inside this request, and the client waits for it")
    record = current_record()
    name = f"request-{record.id}" if record is not None else f"request-{db.now()}"
    result = export.build(name.replace(":", "-"))
    return {"status": "done", "ran": "inside the request", "result": result}


@bp.get("")
def list_jobs() -> dict[str, Any]:
    """This workspace's newest jobs (yours, when auth is on)."""
    owner = owner_filter(require_identity(write=False))
    jobs = store.recent(owner, LIST_MAX)
    return {"jobs": jobs, "queue": queue_state()}


@bp.get("/<int:job_id>")
def get_job(job_id: int) -> dict[str, Any]:
    """One job: its status, tries, result or error."""
    owner = owner_filter(require_identity(write=False))
    job = store.get(job_id, owner) if job_id <= 2**63 - 1 else None
    if job is None:
        raise NotFound(
            f"There is no job {job_id} among your jobs. GET /jobs lists them; "
            "POST /api/notes/export starts one."
        )
    event(
        "jobs",
        f"job {job_id} is {job['status']} after {job['attempts']} "
        f"{'try' if job['attempts'] == 1 else 'tries'}",
        job=job_id,
        status=job["status"],
        attempts=job["attempts"],
    )
    return job


@bp.get("/queue")
def get_queue() -> dict[str, Any]:
    """Where the queue lives, its workers, and how many messages wait in it."""
    return queue_state()


def queue_state() -> dict[str, Any]:
    """Describe the queue: its backend, workers, and the messages waiting in it."""
    queue = job_queue()
    return {
        "backend": queue.backend,
        "workers": queue.workers,
        "running": queue.consumer is not None,
        **queue.counts(),
    }
