"""Progress: which challenges a learner has solved, checked from what they did.

After every request, each unsolved challenge looks at the finished record (and,
for goals that span several requests, the recent ones). The first record that
satisfies it solves it: the solve is saved in the database, noted in the record
as an event and announced on the live feed.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from . import db, workspaces
from .record import Record, RecordBuffer
from .registry import Challenge, Registry


class Progress:
    """The solved challenges of one app, cached in memory, kept in the database."""

    def __init__(self, path: Path, workspace: str, registry: Registry):
        self.path = path
        self.workspace = workspace
        self.registry = registry
        self._solved: set[str] | None = None
        self._lock = threading.Lock()

    def challenges(self) -> list[tuple[str, Challenge]]:
        """Return ``(module name, challenge)`` for every challenge of every module."""
        return [(m.name, c) for m in self.registry.modules.values() for c in m.challenges]

    def solved(self) -> dict[str, dict[str, Any]]:
        """Return the solved challenges with when and by which request."""
        conn = db.connect(self.path, traced=False)
        try:
            rows = conn.execute(
                "select challenge, solved_at, trace_id from progress where workspace = ?",
                (self.workspace,),
            ).fetchall()
        finally:
            conn.close()
        return {
            r["challenge"]: {"solved_at": r["solved_at"], "trace_id": r["trace_id"]} for r in rows
        }

    def forget(self) -> None:
        """Drop the in-memory cache (after a reset)."""
        with self._lock:
            self._solved = None

    def check(self, record: Record, buffer: RecordBuffer) -> None:
        """Check every unsolved challenge against a finished record."""
        if self._solved is None:
            self._solved = set(self.solved())
        for module_name, challenge in self.challenges():
            if challenge.id in self._solved:
                continue
            try:
                reached = challenge.check(record, buffer)
            except Exception as error:  # a broken check must never break the request
                record.event("sandbox", f"challenge check {challenge.id} failed: {error!r}")
                continue
            if reached:
                self._save(challenge, record)
                record.event(
                    module_name, f"challenge solved: {challenge.title}", challenge=challenge.id
                )
                buffer.publish(
                    "challenge",
                    {
                        "id": challenge.id,
                        "module": module_name,
                        "title": challenge.title,
                        "trace_id": record.id,
                    },
                )

    def _save(self, challenge: Challenge, record: Record) -> None:
        with self._lock:
            if self._solved is not None:
                self._solved.add(challenge.id)
        # Its own untraced connection: saving progress is not part of the learner's request.
        conn = db.connect(self.path, traced=False)
        try:
            with conn:
                conn.execute(
                    "insert or ignore into progress (workspace, challenge, solved_at, trace_id) "
                    "values (?, ?, ?, ?)",
                    (self.workspace, challenge.id, db.now(), record.id),
                )
        finally:
            conn.close()

    def report(self, scope: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """Return every challenge with whether it is solved and counts, for the progress API.

        ``scope`` is the challenges that count (a class's preset may choose some); the
        others are still listed, and still solvable, with ``in_scope`` false.
        """
        solved = self.solved()
        return [
            {
                "id": c.id,
                "module": module_name,
                "title": c.title,
                "hint": workspaces.for_this_server(c.hint),
                "solved": c.id in solved,
                "solved_at": solved.get(c.id, {}).get("solved_at"),
                "trace_id": solved.get(c.id, {}).get("trace_id"),
                "in_scope": scope is None or c.id in scope,
            }
            for module_name, c in self.challenges()
        ]


def progress() -> Progress:
    """Return the progress of this request's workspace."""
    return current_app.extensions["sandbox.progress"].get(db.workspace())


def init_app(app: Flask) -> None:
    """Check challenges against every finished record, in the record's own workspace."""
    from .record import on_close

    path, registry = db.database_path(app), app.extensions["sandbox.registry"]
    trackers = workspaces.PerWorkspace(lambda workspace: Progress(path, workspace, registry))
    app.extensions["sandbox.progress"] = trackers
    # A classmate's request is checked against their own challenges, never against yours.
    on_close(app, lambda record, buffer: trackers.get(db.workspace()).check(record, buffer))
