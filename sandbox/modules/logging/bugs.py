"""Planted bugs: realistic defects the learner finds from logs, records and SQL.

Switching "a bug" on picks one of :data:`BUGS` at random and stores it for the
workspace, without saying which. The notes then go through :class:`BuggyStorage`
(the module *wraps* the ``note_storage`` service), which misbehaves the way the
planted bug says; the rest of the sandbox is untouched. The learner names the bug
(``POST /logging/bugs/answer``) and the server checks it.
"""

from __future__ import annotations

import random
import sqlite3
from typing import Any

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
    """Plant a bug (one at random unless named) in ``workspace``; return its name."""
    bug = bug or random.choice(sorted(BUGS))  # noqa: S311 - a game, not a secret
    conn.execute(
        "insert into logging_bugs (workspace, bug, planted_at, guesses, found_at) "
        "values (?, ?, ?, 0, null) on conflict (workspace) do update set "
        "bug = excluded.bug, planted_at = excluded.planted_at, guesses = 0, found_at = null",
        (workspace, bug, now),
    )
    return bug


def remove(conn: sqlite3.Connection, workspace: str) -> None:
    """Switch the planted bug off (the row stays: a found bug stays found)."""
    conn.execute("update logging_bugs set bug = null where workspace = ?", (workspace,))


def describe(name: str) -> dict[str, Any]:
    """Return a bug as the answer shows it once found."""
    return {"name": name, **BUGS[name]}
