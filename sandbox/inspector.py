"""Inspector: the /sandbox/ API to switch modules and look inside every request.

Everything the landing page and the notebook handle show comes from here, so a
browser, curl and a notebook never disagree.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from markupsafe import Markup
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from . import __version__, class_handouts, class_room, db, notes, snapshots, sql_console
from .capacity import client_gone, take_slot
from .classroom import is_class_mode
from .compare import compare
from .display import comparison_html, copy_as
from .errors import NotFound, ValidationFailed
from .guard import control_plane
from .progress import progress
from .record import Record, event, records, stream
from .registry import registry
from .settings import SETTINGS
from .validation import (
    Body,
    Headers,
    NotBlank,
    Query,
    QueryInt,
    json_body,
    json_type,
    query_int,
    read,
    read_headers,
    read_query,
)

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


class SnapshotRequest(Body):
    """Save this workspace's data, switches, progress and keys under a name."""

    name: str = Field(
        pattern=r"^[a-z0-9-]{1,40}$",
        description="1 to 40 lowercase letters, digits and '-': before-encryption",
    )


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


class TraceFilter(Query):
    """What ``GET /sandbox/traces`` may be asked: how many records, and which."""

    limit: QueryInt = Field(50, ge=1, le=10_000, description="How many")
    status: query_int(100, 599) | None = Field(None, description="Only this status")
    module: str | None = Field(None, description="Only this module's routes")
    method: str | None = Field(None, description="Only this method")
    path: str | None = Field(None, description="Only paths containing this")


@bp.get("/traces")
@control_plane
def list_traces() -> Any:
    """List recent records newest first; filter by module, status, method or path."""
    asked = read_query(TraceFilter)
    limit, status, module, path = asked.limit, asked.status, asked.module, asked.path
    method = (asked.method or "").upper()
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


# A message id of the live feed: what its ``id:`` lines say (sandbox/record.py).
EVENT_ID = r"^[0-9]{1,18}$"


def _an_event_id(value: Any) -> Any:
    """Let an id through, as if left out when empty; refuse anything else, saying why."""
    if value is None or value == "":  # "?last_event_id=": no id, a new feed
        return None
    if isinstance(value, str) and re.fullmatch(EVENT_ID, value, re.ASCII):
        return value
    raise PydanticCustomError(
        "event_id",
        "Last-Event-ID must be the id of a message this feed sent (a whole number), not "
        "{sent}. Leave it out to start from now.",
        {"sent": repr(str(value)[:40])},
    )


# One type for both ways to send it: the same rule, the same message, the same document.
EventId = Annotated[Annotated[str, Field(pattern=EVENT_ID)] | None, BeforeValidator(_an_event_id)]


class FeedQuery(Query):
    """Where a reconnecting feed picks up, for a client that cannot set headers."""

    last_event_id: EventId = Field(
        None,
        description="The last message id seen, as in the Last-Event-ID header a browser "
        "sends: what came since is sent first",
    )


class FeedHeaders(Headers):
    """Where a reconnecting feed picks up: a browser's EventSource sends it by itself."""

    last_event_id: EventId = Field(
        None,
        alias="Last-Event-ID",
        description="The last message id seen, which a browser's EventSource sends when it "
        "reconnects: what came since is sent first",
    )


def last_event_id() -> int | None:
    """Return the last message id a reconnecting feed saw, or None for a new feed.

    A browser sends it by itself (the Last-Event-ID header, from the ``id:`` lines it
    read); another client may send it, or ``?last_event_id=`` when it cannot set headers.
    """
    header = read_headers(FeedHeaders).last_event_id
    asked = read_query(FeedQuery).last_event_id  # checked even when the header is sent
    seen = header or asked
    return None if seen is None else int(seen)


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


def kept_record(trace_id: str) -> Record:
    """Return a kept record, or answer 404 with why it may be gone."""
    record = records().get(trace_id)
    if record is None:
        limit = current_app.config["SANDBOX_TRACE_LIMIT"]
        raise NotFound(
            f"No record with id '{trace_id}'. The sandbox keeps the last {limit} "
            "records in memory (and none from before a restart); GET /sandbox/traces "
            "lists them."
        )
    return record


@bp.get("/traces/<trace_id>")
@control_plane
def get_trace(trace_id: str) -> Any:
    """Show one record in full."""
    return jsonify(kept_record(trace_id).to_dict())


@bp.get("/traces/<trace_id>/as/<format>")
@control_plane
def copy_trace(trace_id: str, format: str) -> Any:
    """Write a record's request for curl, httpie, requests or fetch, secrets as variables."""
    # The same code as the notebook's sb.trace().as_(...): one writer per format.
    command = copy_as(kept_record(trace_id).to_dict(), format, request.url_root)
    return {"format": format, "command": str(command), "notes": list(command.notes)}


def _wants_page() -> bool:
    """Return whether the client asked for a page (a browser does; curl and notebooks do not)."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > 0


class ComparePair(Query):
    """The two records to compare, by id (each answer's X-Sandbox-Trace header)."""

    a: str = Field(
        min_length=1, max_length=40, description="A record's id (GET /sandbox/traces lists them)"
    )
    b: str = Field(min_length=1, max_length=40, description="Another record's id")


@bp.get("/compare")
@control_plane
def compare_records() -> Any:
    """Show two records side by side, what differs highlighted: ``?a=<id>&b=<id>``."""
    asked = read_query(ComparePair)
    ids = {"a": asked.a, "b": asked.b}
    found = {side: records().get(i) for side, i in ids.items()}
    unknown = [ids[side] for side, record in found.items() if record is None]
    if unknown:
        limit = current_app.config["SANDBOX_TRACE_LIMIT"]
        raise NotFound(
            f"No record with id {' or '.join(repr(i) for i in unknown)}. The sandbox keeps the "
            f"last {limit} records (none from before a restart); GET /sandbox/traces lists them.",
            unknown=unknown,
        )
    data = compare(found["a"].to_dict(), found["b"].to_dict())
    if _wants_page():
        links = {s: url_for("sandbox.get_trace", trace_id=i) for s, i in ids.items()}
        table = Markup(comparison_html(data, links))  # built from escaped parts only
        return render_template("compare.html", table=table, data=data)
    return data


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


@bp.get("/snapshots")
@control_plane
def list_snapshots() -> Any:
    """List this workspace's snapshots, newest first, then the instructor's hand-outs."""
    return {
        "snapshots": snapshots.listing() + class_handouts.for_students(),
        "limit": snapshots.LIMIT,
    }


@bp.post("/snapshots")
@control_plane
def make_snapshot() -> Any:
    """Save this workspace's rows and key files: ``{"name": "before-encryption"}``."""
    sent = request.get_json(silent=True)
    name = sent.get("name") if isinstance(sent, dict) else None
    if isinstance(name, str) and class_handouts.is_handout(name) and class_room.is_class_server():
        raise class_handouts.refuse(name, "overwrite")
    made = snapshots.make(read(SnapshotRequest).name)
    return made, 201


@bp.post("/snapshots/<name>/restore")
@control_plane
def restore_snapshot(name: str) -> Any:
    """Put this workspace back to a snapshot: data, switches, progress and keys, at once."""
    if class_handouts.is_handout(name):
        return class_handouts.restore(name)
    answer = snapshots.restore(name)
    if class_room.is_class_server():
        answer["locked_modules_reset"] = class_room.apply_locks(db.workspace())
    return answer


@bp.delete("/snapshots/<name>")
@control_plane
def delete_snapshot(name: str) -> Any:
    """Delete one of this workspace's snapshots."""
    if class_handouts.is_handout(name):
        raise class_handouts.refuse(name, "delete")
    snapshots.delete(name)
    return "", 204


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
