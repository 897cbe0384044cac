"""Progress: which challenges a learner has solved, checked from what they did.

After every request, each unsolved challenge looks at the finished record (and,
for goals that span several requests, the recent ones). The first record that
satisfies it solves it: the solve is saved in the database, noted in the record
as an event and announced on the live feed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from . import db, workspaces
from .record import Record, RecordBuffer
from .registry import STATE_TTL, Challenge, Registry


class Progress:
    """The solved challenges of one app, cached in memory, kept in the database."""

    def __init__(self, path: Path, workspace: str, registry: Registry, workers: int = 1):
        self.path = path
        self.workspace = workspace
        self.registry = registry
        self._solved: set[str] | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()
        # With several worker processes another one may solve (or a reset may forget) a
        # challenge: what this one remembers is read again after a moment, as toggles are.
        self._trust = float("inf") if workers == 1 else STATE_TTL
        # Listed once: the modules are fixed when the app is made, and check() walks this
        # list after every request.
        self._challenges = [(m.name, c) for m in registry.modules.values() for c in m.challenges]

    def challenges(self) -> list[tuple[str, Challenge]]:
        """Return ``(module name, challenge)`` for every challenge of every module."""
        return self._challenges

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
        solved = self._solved  # a local name: a reset may drop the cache meanwhile
        if solved is None or time.monotonic() - self._read_at > self._trust:
            self._read_at = time.monotonic()
            solved = self._solved = set(self.solved())
        for module_name, challenge in self.challenges():
            if challenge.id in solved:
                continue
            try:
                reached = challenge.check(record, buffer)
            except Exception as error:  # a broken check must never break the request
                record.event("sandbox", f"challenge check {challenge.id} failed: {error!r}")
                continue
            # Saved by this process, or by another worker a moment ago: announced once.
            if reached and self._save(challenge, record):
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

    def _save(self, challenge: Challenge, record: Record) -> bool:
        """Save a solve; return False if it was saved already (by another worker)."""
        with self._lock:
            if self._solved is not None:
                self._solved.add(challenge.id)
        # Its own untraced connection: saving progress is not part of the learner's request.
        conn = db.connect(self.path, traced=False)
        try:
            with conn:
                saved = conn.execute(
                    "insert or ignore into progress (workspace, challenge, solved_at, trace_id) "
                    "values (?, ?, ?, ?)",
                    (self.workspace, challenge.id, db.now(), record.id),
                ).rowcount
        finally:
            conn.close()
        return saved == 1

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
    workers = app.config["SANDBOX_WORKERS"]
    trackers = workspaces.PerWorkspace(
        lambda workspace: Progress(path, workspace, registry, workers)
    )
    app.extensions["sandbox.progress"] = trackers
    # A classmate's request is checked against their own challenges, never against yours.
    on_close(app, lambda record, buffer: trackers.get(db.workspace()).check(record, buffer))
