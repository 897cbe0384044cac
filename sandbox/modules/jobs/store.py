"""The jobs table: what each job is, who asked for it, and how its tries went.

The queue's message says only "run job 7 of workspace local". Everything a learner
polls for (status, attempts, result, error) lives in this table, in the sandbox's own
database, written by the request that enqueues a job and by the worker that runs it:
their SQL shows up in their own records.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sandbox import db
from sandbox.identity import Identity

# The fields of a job as GET /jobs/<id> shows them, in this order.
SHOWN = (
    "id",
    "kind",
    "status",
    "attempts",
    "result",
    "error",
    "owner",
    "options",
    "tries",
    "request_record",
    "created_at",
    "updated_at",
    "finished_at",
)
JSON_COLUMNS = ("options", "tries", "result")


def create(identity: Identity, options: dict[str, Any], task_id: str, parent: str | None) -> int:
    """Add a queued job for ``identity`` and return its id (before its message is queued)."""
    stamp = db.now()
    conn = db.get_db().conn
    with conn:
        cursor = conn.execute(
            "insert into jobs (workspace, kind, owner, identity, options, status, task_id, "
            "request_record, created_at, updated_at) values (?, 'export', ?, ?, ?, 'queued', "
            "?, ?, ?, ?)",
            (
                db.workspace(),
                identity.username,
                json.dumps(asdict(identity)),
                json.dumps(options),
                task_id,
                parent,
                stamp,
                stamp,
            ),
        )
    return cursor.lastrowid


def get(job_id: int, owner: str | None) -> dict[str, Any] | None:
    """Return one job of this workspace as shown (``owner`` None: anyone's), or None."""
    if owner is None:
        sql, params = "select * from jobs where workspace = ? and id = ?", [db.workspace(), job_id]
    else:
        sql = "select * from jobs where workspace = ? and id = ? and owner = ?"
        params = [db.workspace(), job_id, owner]
    row = db.get_db().execute(sql, params).fetchone()
    return shown(row) if row is not None else None


def recent(owner: str | None, limit: int) -> list[dict[str, Any]]:
    """Return this workspace's newest jobs (``owner`` None: everyone's)."""
    where, params = "workspace = ?", [db.workspace()]
    if owner is not None:
        where += " and owner = ?"
        params.append(owner)
    rows = db.get_db().execute(
        f"select * from jobs where {where} order by id desc limit ?", [*params, limit]
    )
    return [shown(row) for row in rows.fetchall()]


def shown(row: Any) -> dict[str, Any]:
    """Turn a row into a job as the API shows it (JSON columns read)."""
    job = {name: row[name] for name in SHOWN}
    for name in JSON_COLUMNS:
        job[name] = json.loads(job[name]) if job[name] is not None else None
    return job


def peek(path: Path, workspace: str, job_id: int) -> dict[str, Any] | None:
    """Return a job's row as stored, on a connection of its own (a worker's first look)."""
    conn = db.connect(path, traced=False)  # before the job's record opens: not its SQL
    try:
        row = conn.execute(
            "select * from jobs where workspace = ? and id = ?", (workspace, job_id)
        ).fetchone()
    finally:
        conn.close()
    return dict(row) if row is not None else None


def start_try(job_id: int, record_id: str, thread: str) -> int | None:
    """Mark a job running, count the try, and return its number (None: reset meanwhile)."""
    conn = db.get_db().conn
    with conn:
        row = conn.execute("select attempts, tries from jobs where id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        attempt = row["attempts"] + 1
        tries = [
            *json.loads(row["tries"]),
            {"attempt": attempt, "record": record_id, "thread": thread, "started_at": db.now()},
        ]
        conn.execute(
            "update jobs set status = 'running', attempts = ?, tries = ?, updated_at = ? "
            "where id = ?",
            (attempt, json.dumps(tries), db.now(), job_id),
        )
    return attempt


def end_try(
    job_id: int,
    status: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    retry_in: float | None = None,
    outcome: str | None = None,
) -> None:
    """Write how the latest try ended (done, failed, interrupted) and the job's status."""
    stamp = db.now()
    conn = db.get_db().conn
    with conn:
        row = conn.execute("select tries from jobs where id = ?", (job_id,)).fetchone()
        if row is None:
            return  # the workspace was reset while the job ran: nobody asks for it any more
        tries = json.loads(row["tries"])
        outcome = outcome or ("done" if status == "done" else "failed")
        ended = {"ended_at": stamp, "outcome": outcome}
        if error is not None:
            ended["error"] = error
        if retry_in is not None:
            ended["retry_in_seconds"] = retry_in
        tries[-1].update(ended)
        conn.execute(
            "update jobs set status = ?, tries = ?, result = ?, error = ?, updated_at = ?, "
            "finished_at = ? where id = ?",
            (
                status,
                json.dumps(tries),
                json.dumps(result) if result is not None else None,
                error,
                stamp,
                stamp if status in ("done", "failed") else None,
                job_id,
            ),
        )


def orphans(path: Path) -> list[dict[str, Any]]:
    """Mark jobs left 'running' by a server that was killed as queued; return them.

    A worker takes a job's message off the queue when it starts it. If the process is
    killed then (kill -9, a power cut), the message is gone and the row still says
    running: nobody would ever run it. Called when the queue starts, before any worker
    runs, so every 'running' row is such an orphan.
    """
    conn = db.connect(path, traced=False)
    try:
        with conn:
            rows = conn.execute("select * from jobs where status = 'running'").fetchall()
            conn.execute(
                "update jobs set status = 'queued', error = ?, updated_at = ? "
                "where status = 'running'",
                ("the server stopped while this job ran; it will run again", db.now()),
            )
    finally:
        conn.close()
    return [dict(row) for row in rows]


def waiting_after_restore(conn: Any, workspace: str) -> list[int]:
    """Mark the workspace's restored unfinished jobs queued; return their ids.

    A snapshot keeps a job's row, not its message: that was in the queue's own file, and a
    worker has taken it since (or the restore renumbered the job). Left alone, a job saved
    while queued would say "queued" forever, and one saved while running, "running".
    """
    rows = conn.execute(
        "select id, status from jobs where workspace = ? and status in ('queued', 'running') "
        "order by id",
        (workspace,),
    ).fetchall()
    for job_id, status in rows:
        why = "restored from a snapshot: queued again"
        if status == "running":
            why = "it was running when the snapshot was taken; " + why + ", to run from the start"
        conn.execute(
            "update jobs set status = 'queued', error = ?, updated_at = ? where id = ?",
            (why, db.now(), job_id),
        )
    return [job_id for job_id, _ in rows]


def reset(conn: Any, workspace: str) -> None:
    """Forget a workspace's jobs (their queued messages find no row and do nothing)."""
    conn.execute("delete from jobs where workspace = ?", (workspace,))
