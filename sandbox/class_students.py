"""The students, as the dashboard sees them: progress, activity, errors, switches.

Read from what the server already keeps: the ``progress`` and ``module_state``
tables (every row carries its workspace) and each workspace's request records in
memory. Nothing here is stored twice, so the dashboard and a student's own
landing page never disagree.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timezone
from typing import Any

from flask import current_app

from . import class_room, db
from .errors import NotFound
from .record import Record, all_buffers

RECENT_SECONDS = 60
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection): a
# student named "=HYPERLINK(...)" must arrive in the export as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def in_scope() -> list[tuple[str, Any]]:
    """Return ``(module, challenge)`` for the challenges that count in this class."""
    chosen = class_room.preset().in_scope
    modules = current_app.extensions["sandbox.registry"].modules.values()
    return [(m.name, c) for m in modules for c in m.challenges if chosen is None or c.id in chosen]


def _iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds")


def _buffers() -> dict[str, Any]:
    # Only the buffers there are: asking PerWorkspace.get() would make one for each student.
    return all_buffers()


def activity(records: list[Record], now: float) -> dict[str, Any]:
    """Return when a student last sent a request, how many lately, and their last error."""
    recent = 0
    last_error = None
    for record in records:  # newest first
        if now - record.wall <= RECENT_SECONDS:
            recent += 1
        # An error answer that solved a challenge (a 418 asked for on purpose) was the goal.
        solved = any("challenge" in e for e in record.events)
        if last_error is None and (record.status or 0) >= 400 and not solved:
            last_error = {
                "status": record.status,
                "method": record.method,
                "path": record.path,
                "time": record.time,
                "trace_id": record.id,
            }
        if last_error is not None and now - record.wall > RECENT_SECONDS:
            break  # older records change neither answer
    return {
        "last_activity": records[0].time if records else None,
        "requests_last_minute": recent,
        "last_error": last_error,
    }


def _progress(solved: dict[str, Any], scope: list[tuple[str, Any]]) -> dict[str, Any]:
    per_module: dict[str, dict[str, int]] = {}
    for module, challenge in scope:
        counts = per_module.setdefault(module, {"solved": 0, "total": 0})
        counts["total"] += 1
        counts["solved"] += challenge.id in solved
    return {
        "solved": sum(c["solved"] for c in per_module.values()),
        "total": len(scope),
        "progress": per_module,
    }


def _switched(states: dict[str, bool], rules: dict[str, dict[str, bool]]) -> list[dict]:
    """Return the modules whose state in a workspace differs from the class's."""
    return [
        {"name": name, "enabled": enabled}
        for name, enabled in states.items()
        if name in rules and enabled != rules[name]["enabled"]
    ]


def tables() -> tuple[list[Any], dict[str, dict], dict[str, dict[str, bool]]]:
    conn = db.connect(db.database_path(), traced=False)
    try:
        students = conn.execute(
            "select id, display_name, created_at from class_workspaces order by created_at, id"
        ).fetchall()
        solved: dict[str, dict] = {}
        for row in conn.execute("select workspace, challenge, solved_at, trace_id from progress"):
            solved.setdefault(row["workspace"], {})[row["challenge"]] = dict(row)
        states: dict[str, dict[str, bool]] = {}
        for row in conn.execute("select workspace, name, enabled from module_state"):
            states.setdefault(row["workspace"], {})[row["name"]] = bool(row["enabled"])
    finally:
        conn.close()
    return students, solved, states


def _module_states(saved: dict[str, bool]) -> dict[str, bool]:
    modules = current_app.extensions["sandbox.registry"].modules
    return {name: saved.get(name, m.enabled_by_default) for name, m in modules.items()}


def rows() -> list[dict[str, Any]]:
    """Return one row per student, in the order they joined."""
    students, solved, states = tables()
    scope, rules, buffers, now = in_scope(), class_room.rules(), _buffers(), time.time()
    out = []
    for student in students:
        workspace = student["id"]
        buffer = buffers.get(workspace)
        out.append(
            {
                "workspace": workspace,
                "name": student["display_name"],
                "joined_at": student["created_at"],
                **_progress(solved.get(workspace, {}), scope),
                **activity(buffer.recent() if buffer else [], now),
                "switched": _switched(_module_states(states.get(workspace, {})), rules),
            }
        )
    return out


SORT_KEYS = {
    "name": lambda r: r["name"].lower(),
    "solved": lambda r: (r["solved"], r["name"].lower()),
    "last_activity": lambda r: r["last_activity"] or "",
    "requests_last_minute": lambda r: r["requests_last_minute"],
    "joined_at": lambda r: r["joined_at"],
}


def detail(workspace: str, record_limit: int) -> dict[str, Any]:
    """Return one student's row, every challenge in scope, module states and records."""
    row = next((r for r in rows() if r["workspace"] == workspace), None)
    if row is None:
        raise NotFound(
            f"No student has the workspace '{workspace}'. GET /class/api/students lists them."
        )
    _, solved, states = tables()
    mine = solved.get(workspace, {})
    rules = class_room.rules()
    buffer = _buffers().get(workspace)
    return {
        **row,
        "challenges": [
            {
                "id": c.id,
                "module": module,
                "title": c.title,
                "solved": c.id in mine,
                "solved_at": mine.get(c.id, {}).get("solved_at"),
                "trace_id": mine.get(c.id, {}).get("trace_id"),
            }
            for module, c in in_scope()
        ],
        "modules": [
            {
                "name": name,
                "enabled": on,
                "class_state": rules[name]["enabled"],
                "locked": rules[name]["locked"],
            }
            for name, on in _module_states(states.get(workspace, {})).items()
        ],
        "records": [r.summary() for r in (buffer.recent(record_limit) if buffer else [])],
    }


def record(workspace: str, trace_id: str) -> dict[str, Any]:
    """Return one record of a student's workspace, in full."""
    buffer = _buffers().get(workspace)
    found = buffer.get(trace_id) if buffer else None
    if found is None:
        raise NotFound(
            f"No record '{trace_id}' in workspace '{workspace}': the server keeps each "
            "workspace's latest records in memory only (none from before a restart)."
        )
    return found.to_dict()


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value  # shown as text by every spreadsheet
    return value


def csv_text() -> tuple[str, int]:
    """Return the class's progress as CSV (one line per student) and how many students."""
    scope = in_scope()
    _, solved, _ = tables()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["name", "workspace", "joined_at", "solved", "total", "last_activity"]
        + [c.id for _, c in scope]
    )
    students = rows()
    for row in students:
        mine = solved.get(row["workspace"], {})
        writer.writerow(
            [_cell(row["name"]), row["workspace"], row["joined_at"], row["solved"], row["total"]]
            + [row["last_activity"] or ""]
            + [mine.get(c.id, {}).get("solved_at", "") for _, c in scope]
        )
    return out.getvalue(), len(students)
