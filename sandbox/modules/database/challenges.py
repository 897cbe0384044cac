"""The database module's challenges, each checked from the request records."""

from __future__ import annotations

import re

from sandbox.registry import Challenge

_NOTE = re.compile(r"^/api/notes/(\d+)$")


def _in_database(record) -> bool:
    return not any(e.get("storage") == "memory" for e in record.events)


def crud(record, buffer) -> bool:
    """Deleted a note (204) that this learner created, read and updated before, in SQLite."""
    match = _NOTE.match(record.path)
    if not (match and record.method == "DELETE" and record.status == 204 and _in_database(record)):
        return False
    path = record.path
    done = set()
    for earlier in buffer.recent(200):
        if not _in_database(earlier):
            continue
        if earlier.path == path and earlier.status == 200 and earlier.method == "GET":
            done.add("read")
        elif earlier.path == path and earlier.status == 200 and earlier.method in ("PUT", "PATCH"):
            done.add("update")
        elif (
            earlier.method == "POST"
            and earlier.status == 201
            and earlier.response.get("headers", {}).get("Location", "").endswith(path)
        ):
            done.add("create")
    return done == {"create", "read", "update"}


def vanished(record, buffer) -> bool:
    """Saw the sandbox report notes kept in memory lost across a restart."""
    return any(e.get("lost_in_restart") for e in record.events)


def index_plan(record, buffer) -> bool:
    """Ran a read-only query whose plan uses an index."""
    return record.path == "/sandbox/sql" and any(e.get("uses_index") for e in record.events)


CHALLENGES = (
    Challenge(
        id="database.crud",
        title="Create, read, update and delete the same note",
        hint="With the database on: POST /api/notes, then GET, PATCH (or PUT) and DELETE "
        "/api/notes/<id> with the id from the Location header.",
        check=crud,
    ),
    Challenge(
        id="database.vanish",
        title="Watch notes kept in memory vanish when the server restarts",
        hint="Switch the database off, POST a note to /api/notes, restart the server "
        "(sb.restart() or Ctrl+C and python app.py), then GET /api/notes.",
        check=vanished,
    ),
    Challenge(
        id="database.index",
        title="Run a query whose plan uses an index",
        hint='POST /sandbox/sql with "explain": true and a WHERE or ORDER BY on indexed columns, '
        "e.g. select * from notes where workspace = 'local' order by created_at.",
        check=index_plan,
    ),
)
