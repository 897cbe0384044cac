"""The jobs module's challenges, each checked from the request records (and the jobs')."""

from __future__ import annotations

from sandbox.registry import Challenge

EXPORT = "/api/notes/export"
RECENT = 200  # how far back in the buffer a check looks


def _events(record) -> list[dict]:
    return [e for e in record.events if e.get("module") == "jobs"]


def _queued(record) -> set[int]:
    """Return the jobs a request queued (an export answered 202 Accepted)."""
    if record.method != "POST" or record.path != EXPORT or record.status != 202:
        return set()
    return {e["job"] for e in _events(record) if e.get("status") == "queued" and "job" in e}


def polled_until_done(record, buffer) -> bool:
    """GET /jobs/<id> answered "done" for a job that an export queued with a 202."""
    if record.method != "GET" or not record.path.startswith("/jobs/") or record.status != 200:
        return False
    done = {e["job"] for e in _events(record) if e.get("status") == "done" and "job" in e}
    return bool(done) and any(done & _queued(r) for r in buffer.recent(RECENT))


def failed_and_retried(record, buffer) -> bool:
    """GET /jobs/<id> showed 2 or more tries of a job one of whose tries failed and was retried."""
    if record.method != "GET" or not record.path.startswith("/jobs/") or record.status != 200:
        return False
    seen = {e["job"] for e in _events(record) if e.get("attempts", 0) >= 2 and "job" in e}
    return any(
        r.method == "JOB" and any(e.get("job") in seen and "retry_in" in e for e in _events(r))
        for r in buffer.recent(RECENT)
    )


def _exported(record) -> bool:
    return record.status == 200 and any("exported" in e for e in _events(record))


def off_the_request(record, buffer) -> bool:
    """An export ran inside its request, and another ran as a job on another thread.

    The job's record names its parent, the request that queued it; the two records name
    different threads. Checked when either record closes (a fast job may finish before the
    request that queued it has closed its record).
    """
    # Only one of the two exports' records can complete this: skip the rest at once (this
    # runs after every request, and a look through the buffer is what costs).
    if record.method != "JOB" and (record.method != "POST" or record.path != EXPORT):
        return False
    records = [record, *buffer.recent(RECENT)]
    by_id = {r.id: r for r in records}
    in_request = any(r.method == "POST" and r.path == EXPORT and _exported(r) for r in records)
    on_a_worker = any(
        r.method == "JOB"
        and _exported(r)
        and (parent := by_id.get(r.parent)) is not None
        and _queued(parent)
        and parent.thread != r.thread
        for r in records
    )
    return in_request and on_a_worker


CHALLENGES = (
    Challenge(
        id="jobs.polled",
        title="Get a 202 and poll until done",
        hint="Switch jobs on, POST /api/notes/export: the answer is 202 Accepted with a "
        "Location. GET that URL every second until its status is done.",
        check=polled_until_done,
    ),
    Challenge(
        id="jobs.retried",
        title="Watch a job fail and be retried",
        hint='POST /api/notes/export {"fail_times": 2}: its first two tries fail on purpose. '
        "Poll GET /jobs/<id>: attempts grows, the tries list the errors, then it is done.",
        check=failed_and_retried,
    ),
    Challenge(
        id="jobs.off_the_request",
        title="Prove the work ran on another thread than the request",
        hint="Export once with jobs off (the work is in the request's own record), then with "
        "jobs on: the job's record (method JOB) names the request as its parent, and another "
        "thread. Compare the two records' thread fields.",
        check=off_the_request,
    ),
)
