"""Inspector: the /sandbox/ API to switch modules and look inside every request.

Everything the landing page and the notebook handle show comes from here, so a
browser, curl and a notebook never disagree.
"""

from __future__ import annotations

from typing import Annotated, Any

from flask import Blueprint, Response, current_app, jsonify, request, stream_with_context
from pydantic import Field

from . import __version__, class_room, db, notes, sql_console
from .capacity import client_gone, take_slot
from .classroom import is_class_mode
from .errors import InvalidQuery, NotFound, ValidationFailed
from .guard import control_plane
from .progress import progress
from .record import event, records, stream
from .registry import registry
from .settings import SETTINGS
from .validation import Body, NotBlank, json_body, json_type, read

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


class Toggle(Body):
    """Switch a module on or off."""

    enabled: bool = Field(description="true (on) or false (off)")


class SQLQuery(Body):
    """One read-only SQL statement to run, and whether to show its query plan."""

    sql: Annotated[str, Field(max_length=10_000), NotBlank()] = Field(
        description="one SQL statement (select ...) of at most 10,000 characters"
    )
    explain: bool = Field(False, description="true to get the query plan too")


@bp.get("/health")
def health() -> Any:
    """Answer that the sandbox is up, with a few facts about it."""
    reg = registry()
    return {
        "status": "ok",
        "version": __version__,
        "modules": {name: reg.is_enabled(name) for name in reg.modules},
        "records_kept": len(records()),
    }


@bp.get("/settings")
@control_plane
def settings() -> Any:
    """List every setting with its value and what it does."""
    return {
        "settings": [
            {
                "name": s.name,
                "value": _shown(s, current_app.config.get(s.name)),
                "default": s.default,
                "help": s.help,
            }
            for s in SETTINGS
        ]
    }


def _shown(setting: Any, value: Any) -> Any:
    # A secret setting says whether it is set, never what it is.
    if setting.secret:
        return "[set]" if value else None
    return value


@bp.get("/modules")
@control_plane
def list_modules() -> Any:
    """List every module with its state."""
    reg = registry()
    return {"modules": [reg.describe(m) for m in reg.modules.values()]}


@bp.patch("/modules")
@control_plane
def switch_modules() -> Any:
    """Switch several modules at once: ``{"encryption": true, "auth": false}``.

    A lesson expects some modules on and some off (an earlier lesson may have left auth
    on); one request gets them all, in the order given.
    """
    reg = registry()
    wanted = json_body()
    for name in wanted:
        reg.get(name)  # an unknown module is a 404 naming the known ones, as for one switch
    errors = [
        {"field": name, "message": "Must be true (on) or false (off).", "input_type": json_type(v)}
        for name, v in wanted.items()
        if not isinstance(v, bool)
    ]
    if not wanted:
        errors.append({"field": "body", "message": 'Name at least one module: {"auth": false}.'})
    if errors:
        raise ValidationFailed(errors)
    for name, enabled in wanted.items():
        reg.set_enabled(name, enabled)
        event("sandbox", f"module {name} switched {'on' if enabled else 'off'}")
    return list_modules()


@bp.get("/modules/<name>")
@control_plane
def get_module(name: str) -> Any:
    """Show one module."""
    reg = registry()
    return reg.describe(reg.get(name))


@bp.patch("/modules/<name>")
@control_plane
def toggle_module(name: str) -> Any:
    """Switch a module on or off: ``{"enabled": true|false}``."""
    reg = registry()
    reg.get(name)  # an unknown module is a 404 before the body is even read
    enabled = read(Toggle).enabled
    module = reg.set_enabled(name, enabled)
    state = "on" if enabled else "off"
    event("sandbox", f"module {name} switched {state}")
    return reg.describe(module)


@bp.get("/modules/<name>/source")
@control_plane
def module_source(name: str) -> Any:
    """Show the real source of a module, read from the running package."""
    module = registry().get(name)
    return {"module": module.name, "files": module.source_files()}


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise InvalidQuery(
            f"Query parameter '{name}' must be a whole number from {low} to {high} (got {raw!r})."
        )
    return value


@bp.get("/traces")
@control_plane
def list_traces() -> Any:
    """List recent records newest first; filter by module, status, method or path."""
    limit = _int_arg("limit", 50, 1, 10_000)
    status = _int_arg("status", None, 100, 599)
    module = request.args.get("module")
    method = (request.args.get("method") or "").upper()
    path = request.args.get("path")
    found = []
    for record in records().recent():
        if (module and record.module != module) or (status and record.status != status):
            continue
        if (method and record.method != method) or (path and path not in record.path):
            continue
        found.append(record.summary())
        if len(found) >= limit:
            break
    return {
        "traces": found,
        "kept": len(records()),
        "limit": current_app.config["SANDBOX_TRACE_LIMIT"],
    }


def last_event_id() -> int | None:
    """Return the last message id a reconnecting feed saw, or None for a new feed.

    A browser sends it by itself (the Last-Event-ID header, from the ``id:`` lines it
    read); another client may send it, or ``?last_event_id=`` when it cannot set headers.
    """
    value = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise InvalidQuery(
            f"Last-Event-ID must be the id of a message this feed sent (a whole number), "
            f"not {value[:40]!r}. Leave it out to start from now."
        )
    return int(value)


@bp.get("/traces/stream")
@control_plane
def trace_stream() -> Response:
    """Send each record as it completes, as Server-Sent Events."""
    seconds = float(current_app.config["SANDBOX_STREAM_SECONDS"])
    after = last_event_id()
    take_slot("live feed")  # an open feed holds a thread: it takes a slot for slow answers
    body = stream_with_context(stream(records(), seconds, client_gone(), after))
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@bp.get("/traces/<trace_id>")
@control_plane
def get_trace(trace_id: str) -> Any:
    """Show one record in full."""
    record = records().get(trace_id)
    if record is None:
        limit = current_app.config["SANDBOX_TRACE_LIMIT"]
        raise NotFound(
            f"No record with id '{trace_id}'. The sandbox keeps the last {limit} "
            "records in memory (and none from before a restart); GET /sandbox/traces "
            "lists them."
        )
    return jsonify(record.to_dict())


@bp.get("/progress")
@control_plane
def get_progress() -> Any:
    """List every challenge and whether it is solved; count the ones that count here."""
    # In a class, the instructor's preset may choose the challenges that count: the counts
    # are the ones the dashboard shows, and the others stay listed, marked out of scope.
    scope = class_room.preset().in_scope
    challenges = progress().report(frozenset(scope) if scope is not None else None)
    counted = [c for c in challenges if c["in_scope"]]
    return {
        "challenges": challenges,
        "solved": sum(c["solved"] for c in counted),
        "total": len(counted),
    }


@bp.post("/reset")
@control_plane
def reset() -> Any:
    """Put data, toggles and progress back to the seeded start, and forget the records."""
    registry().reset(db.get_db().conn, db.workspace())
    notes.memory().clear(db.workspace())
    progress().forget()
    records().clear()
    event("sandbox", "reset: data, toggles and progress back to the start")
    return {"status": "reset", "modules": {n: registry().is_enabled(n) for n in registry().modules}}


@bp.post("/sql")
@control_plane
def run_sql() -> Any:
    """Run one read-only SQL statement: ``{"sql": "select ...", "explain": false}``."""
    data = read(SQLQuery)
    config = current_app.config
    result = sql_console.run(
        db.database_path(),
        data.sql,
        explain=data.explain,
        row_limit=config["SANDBOX_SQL_ROW_LIMIT"],
        time_limit_ms=config["SANDBOX_SQL_TIME_LIMIT_MS"],
        byte_limit=config["SANDBOX_SQL_BYTE_LIMIT"],
        trace=db.trace_statement,
        # A class: the student's own rows only (local mode: the one workspace, the whole file).
        workspace=db.workspace() if is_class_mode() else None,
    )
    if "plan" in result:
        steps = [step["detail"] for step in result["plan"]]
        uses_index = any("INDEX" in step for step in steps)  # not a full SCAN of a table
        event("sandbox", "query plan: " + "; ".join(steps), uses_index=uses_index)
    return result
