"""Planted bugs: realistic defects the learner finds from logs, records and SQL.

Switching "a bug" on picks one of :data:`BUGS` at random and stores it for the
workspace, without saying which. The notes then go through :class:`BuggyStorage`
(the module *wraps* the ``note_storage`` service), which misbehaves the way the
planted bug says; the rest of the sandbox is untouched. The learner names the bug
(``POST /logging/bugs/answer``) and the server checks it.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app, g, has_request_context, request

from sandbox import db

from .logs import logger, wants

log = logger("notes")


def debug(message: str, **data: Any) -> None:
    """Log a DEBUG line of the notes, if this workspace keeps them (most of the time, not)."""
    if wants("notes", logging.DEBUG):
        log.debug(message, extra={"fields": data})


# Each bug: what it is, the symptom a learner may notice first, and where the proof is.
BUGS: dict[str, dict[str, str]] = {
    "off-by-one": {
        "title": "Off-by-one in pagination",
        "symptom": "paging through the notes skips one note at every page boundary",
        "evidence": "the OFFSET in the record's SQL is one more than the page asked for",
    },
    "timezone": {
        "title": "Time-zone mistake in `updated`",
        "symptom": "an edited note's updated_at is hours away from its created_at",
        "evidence": "the log line of the update shows local time labelled as UTC",
    },
    "n-plus-one": {
        "title": "N+1 query on the notes list",
        "symptom": "the notes list gets slower the more notes a page shows",
        "evidence": "the record of GET /api/notes has one SELECT per note after the list",
    },
    "lost-update": {
        "title": "Intermittent failure under concurrency (a lost update)",
        "symptom": "two edits of one note at the same time: one of them is lost",
        "evidence": "the log lines of two overlapping PATCH requests read the same old note",
    },
}


def module_on(conn: sqlite3.Connection, workspace: str) -> bool:
    """Return whether the logging module is on in ``workspace`` (it is off by default)."""
    row = conn.execute(
        "select enabled from module_state where workspace = ? and name = 'logging'",
        (workspace,),
    ).fetchone()
    return bool(row and row[0])


def planted_bug(conn: sqlite3.Connection, workspace: str) -> str | None:
    """Return the name of the bug planted in ``workspace``; None if none or the module is off."""
    try:
        if not module_on(conn, workspace):
            return None
        row = conn.execute(
            "select bug from logging_bugs where workspace = ?", (workspace,)
        ).fetchone()
    except sqlite3.OperationalError:  # the module is not loaded: its table was never made
        return None
    return row[0] if row and row[0] in BUGS else None


def plant(conn: sqlite3.Connection, workspace: str, now: str, bug: str | None = None) -> str:
    """Plant a bug (one at random unless named) in ``workspace``; return its name.

    A bug named on purpose (for a test, or a teacher's demonstration) is no secret: naming
    it afterwards does not count as finding it.
    """
    secret = bug is None
    bug = bug or random.choice(sorted(BUGS))  # noqa: S311 - a game, not a secret
    conn.execute(
        "insert into logging_bugs (workspace, bug, planted_at, secret, guesses, found_at) "
        "values (?, ?, ?, ?, 0, null) on conflict (workspace) do update set "
        "bug = excluded.bug, planted_at = excluded.planted_at, secret = excluded.secret, "
        "guesses = 0, found_at = null",
        (workspace, bug, now, int(secret)),
    )
    forget()
    return bug


def remove(conn: sqlite3.Connection, workspace: str) -> None:
    """Switch the planted bug off (the row stays: a found bug stays found)."""
    conn.execute("update logging_bugs set bug = null where workspace = ?", (workspace,))
    forget()


def describe(name: str) -> dict[str, Any]:
    """Return a bug as the answer shows it once found."""
    return {"name": name, **BUGS[name]}


# --- which bug is on: read once in a while, not on every call ---

TTL = 0.5  # seconds a process trusts its copy (another process may plant a bug meanwhile)
_kept: dict[str, tuple[str | None, float]] = {}
_lock = threading.Lock()


def forget() -> None:
    """Drop the copies, so the next call reads the planted bugs again."""
    with _lock:
        _kept.clear()


def current(workspace: str) -> str | None:
    """Return the bug planted in ``workspace`` now (the module is on: its wrapper runs)."""
    with _lock:
        bug, read_at = _kept.get(workspace, (None, -TTL))
    if time.monotonic() - read_at <= TTL:
        return bug
    # Its own connection, untraced: the learner's record must not give the answer away.
    conn = db.connect(db.database_path(), traced=False)
    try:
        bug = planted_bug(conn, workspace) or _stored(conn, workspace)
    finally:
        conn.close()
    with _lock:
        _kept[workspace] = (bug, time.monotonic())
    return bug


def _stored(conn: sqlite3.Connection, workspace: str) -> str | None:
    # Being switched on: the switch's transaction may not be visible yet; the table is.
    row = conn.execute("select bug from logging_bugs where workspace = ?", (workspace,)).fetchone()
    return row[0] if row and row[0] in BUGS else None


# --- the bugs themselves, in front of whichever note storage is on ---

# The server's clock is set to a zone seven hours behind UTC: its local time, labelled UTC,
# is the time-zone bug.
SERVER_ZONE = timezone(timedelta(hours=-7))


def local_time_as_utc() -> str:
    """Return the server's local time wrongly marked as UTC: the time-zone bug itself."""
    wrong = datetime.now(SERVER_ZONE).replace(tzinfo=timezone.utc)  # BUG: not converted
    return wrong.isoformat(timespec="milliseconds")


PER_NOTE_SQL = "select tags from notes where workspace = ? and id = ?"


class BuggyStorage:
    """The note storage it wraps, plus the workspace's planted bug (and debug log lines)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name

    def writing(self):
        return self.inner.writing()

    def list(self, workspace: str, query: Any) -> tuple[list[dict[str, Any]], int]:
        bug = current(workspace)
        debug(
            f"list notes: {query.limit} from offset {query.offset}",
            offset=query.offset,
            limit=query.limit,
            sort=query.sort,
        )
        if bug == "off-by-one" and query.offset:
            # BUG: "start after the last note of the previous page" counted it twice.
            query = replace(query, offset=query.offset + 1)
        items, total = self.inner.list(workspace, query)
        if bug == "n-plus-one":
            items = [self._with_tags(workspace, note) for note in items]
        return items, total

    def _with_tags(self, workspace: str, note: dict[str, Any]) -> dict[str, Any]:
        # BUG: one more query per note (what an ORM's lazy loading does by itself): the
        # tags were in the list's own rows already.
        db.get_db().execute(PER_NOTE_SQL, [workspace, note["id"]]).fetchone()
        return note

    def get(self, workspace: str, note_id: int, owner: str | None) -> dict[str, Any] | None:
        note = self.inner.get(workspace, note_id, owner)
        if note is not None and self._about_to_update() and current(workspace) == "lost-update":
            # BUG: the note is read at the start of an update and written back whole at the
            # end; a slow step in between leaves time for another update to be overwritten.
            g.logging_read = {**getattr(g, "logging_read", {}), note_id: dict(note)}
            debug(
                f"note {note_id} read for an update",
                note_id=note_id,
                read_version=note["updated_at"],
            )
            time.sleep(float(current_app.config["SANDBOX_LOG_RACE_WINDOW"]))
        return note

    @staticmethod
    def _about_to_update() -> bool:
        return has_request_context() and request.method in ("PUT", "PATCH")

    def insert(self, workspace: str, note: dict[str, Any]) -> dict[str, Any]:
        stored = self.inner.insert(workspace, note)
        debug(f"note {stored['id']} stored", note_id=stored["id"])
        return stored

    def update(
        self, workspace: str, note_id: int, fields: dict[str, Any], owner: str | None
    ) -> dict[str, Any] | None:
        bug = current(workspace)
        if bug == "timezone" and "updated_at" in fields:
            fields = {**fields, "updated_at": local_time_as_utc()}
        read = getattr(g, "logging_read", {}).get(note_id) if has_request_context() else None
        if bug == "lost-update" and read is not None:
            # The whole note as it was read, with this request's changes on top: whatever
            # another request changed in between is written over.
            whole = {k: read[k] for k in ("title", "body", "tags")}
            fields = {**whole, **fields}
            read_version = read["updated_at"]
            debug(f"note {note_id} written back whole", note_id=note_id, read_version=read_version)
        note = self.inner.update(workspace, note_id, fields, owner)
        if note is not None:
            debug(
                f"note {note_id} updated at {note['updated_at']}",
                note_id=note_id,
                updated_at=note["updated_at"],
            )
        return note

    def delete(self, workspace: str, note_id: int, owner: str | None) -> bool:
        deleted = self.inner.delete(workspace, note_id, owner)
        debug(f"note {note_id} deleted: {deleted}", note_id=note_id)
        return deleted
