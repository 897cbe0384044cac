"""The logging module's routes: the log viewer, its lines, the levels, the bugs and the drill.

The viewer and its lines answer whether the module is on or off (``works_when_off``):
off, they show the plain print-style lines, and that is the lesson's "before".
"""

from __future__ import annotations

import random
from typing import Any, Literal

from flask import Blueprint, current_app, render_template
from pydantic import Field, field_validator
from pydantic_core import PydanticCustomError

from sandbox import db
from sandbox.errors import SandboxError, ValidationFailed
from sandbox.record import current_record, event, outside_request, records
from sandbox.registry import registry
from sandbox.validation import Body, Query, QueryInt, Whole, read, read_query

from . import bugs, logs

bp = Blueprint("logging", __name__, url_prefix="/logging", template_folder="templates")
open_bp = Blueprint("logging_open", __name__, url_prefix="/logging", template_folder="templates")

LINES_MAX = 1000
TEXT_MAX = 200
RECORD_MAX = 40
DRILL_JOBS = 12


class Conflict(SandboxError):
    status = 409
    title = "Conflict"


# --- the viewer and its lines (on or off) ---


@open_bp.get("/")
def viewer() -> str:
    """The log viewer: filter by level, module, record id and text; follow it live."""
    return render_template(
        "logging_viewer.html",
        levels=logs.LEVELS,
        structured=registry().is_enabled("logging"),
    )


def writers() -> list[str]:
    """Return the names of the loggers' modules: every module, the core and the notes."""
    found = current_app.extensions.get("sandbox.registry")
    return sorted({*(found.modules if found else ()), "sandbox", "notes"})


def _writers_enum(schema: dict[str, Any]) -> None:
    # The document lists the modules this sandbox has (they are known when it is asked).
    schema["enum"] = writers()


class LineFilter(Query):
    """The viewer's filters: which lines, and how many (one model checks and documents)."""

    level: Literal[tuple(logs.LEVELS)] | None = Field(  # type: ignore[valid-type]
        None, description="This level and above: level=WARNING shows WARNING and ERROR"
    )
    module: str | None = Field(None, description="One module's", json_schema_extra=_writers_enum)
    record: str | None = Field(None, max_length=RECORD_MAX, description="One record's lines")
    q: str | None = Field(None, max_length=TEXT_MAX, description="Text in the message")
    after: QueryInt = Field(0, ge=0, le=2**63 - 1, description="Lines after this seq")
    limit: QueryInt = Field(100, ge=1, le=LINES_MAX, description="At most this many lines")

    @field_validator("module")
    @classmethod
    def _known(cls, module: str | None) -> str | None:
        known = writers()
        if module is not None and module not in known:
            raise PydanticCustomError(
                "unknown_module",
                "There is no module {module} writing logs. Try one of: {known}.",
                {"module": repr(module), "known": ", ".join(known)},
            )
        return module


def _filters(asked: LineFilter) -> dict[str, Any]:
    """Turn the checked filters into what a line is matched against."""
    return {
        "level": logging_number(asked.level) if asked.level else None,
        "module": asked.module,
        "record": asked.record or None,  # "?record=" is no filter, as if it were left out
        "q": asked.q.lower() if asked.q else None,
    }


def logging_number(level: str) -> int:
    return logs.LEVELS.index(level) * 10 + 10


def _matches(line: dict[str, Any], f: dict[str, Any]) -> bool:
    if "plain" in line:  # a print-style line has no level, module or record: no filter fits
        return not (f["level"] or f["module"] or f["record"]) and (
            f["q"] is None or f["q"] in line["plain"].lower()
        )
    if f["level"] and logging_number(line["level"]) < f["level"]:
        return False
    if f["module"] and line["module"] != f["module"]:
        return False
    if f["record"] and line["record_id"] != f["record"]:
        return False
    return f["q"] is None or f["q"] in line["message"].lower()


@open_bp.get("/lines")
def lines() -> dict[str, Any]:
    """The newest log lines that match the filters, oldest first; ``after`` for a live tail."""
    asked = read_query(LineFilter)
    filters, after, limit = _filters(asked), asked.after, asked.limit
    every = logs.read()
    found = [line for line in every if line["seq"] > after and _matches(line, filters)]
    return {
        "lines": found[-limit:],
        "last": every[-1]["seq"] if every else after,
        "structured": registry().is_enabled("logging"),
    }


# --- levels, live, per module ---


# --- the bodies these routes read: checked by these models, described by them in the document ---

BugName = Literal[tuple(bugs.BUGS)]  # type: ignore[valid-type]


class LevelChange(Body):
    """One module's level: "*" sets it for every module not named."""

    module: str = Field(max_length=40, description='a module\'s name, "sandbox", "notes" or "*"')
    level: Literal[logs.LEVELS] = Field(description="the lowest level kept")  # type: ignore[valid-type]

    @field_validator("module")
    @classmethod
    def _a_module_that_logs(cls, name: str) -> str:
        # Which modules there are is known when the app runs, not when this is written.
        known = {*registry().modules, "sandbox", "notes", logs.EVERY_MODULE}
        if name not in known:
            raise PydanticCustomError("unknown_module", f"One of: {', '.join(sorted(known))}.")
        return name


class BugSwitch(Body):
    """Plant a bug (at random unless named), or remove it."""

    planted: bool = Field(description="true plants a bug, false removes it")
    bug: BugName | None = Field(None, description="plant this one (then it does not count)")


class BugAnswer(Body):
    """The learner's guess at the planted bug."""

    bug: BugName = Field(description="the name of the bug you found")


class RecordAnswer(Body):
    """A record's id, from a log line or a header."""

    record: str = Field(max_length=40, description="a record id (X-Sandbox-Trace)")


class NPlusOneAnswer(Body):
    """A notes list's record and how many SQL statements it ran."""

    record: str = Field(max_length=40, description="a record id (X-Sandbox-Trace)")
    sql_count: Whole = Field(ge=0, le=2**31, description="how many statements its record shows")


@bp.get("/levels")
def get_levels() -> dict[str, Any]:
    """Each module's level in this workspace; "*" is every module not named."""
    return {"levels": logs.levels().of(db.workspace()), "choices": list(logs.LEVELS)}


@bp.put("/levels")
def set_level() -> dict[str, Any]:
    """Set one module's level ("*": the default for every module), effective at once."""
    data = read(LevelChange).model_dump()
    level = data["level"]
    conn = db.get_db().conn
    with conn:
        conn.execute(
            "insert into logging_levels (workspace, module, level) values (?, ?, ?) "
            "on conflict (workspace, module) do update set level = excluded.level",
            (db.workspace(), data["module"], level),
        )
    logs.levels().forget()
    event("logging", f"level of {data['module']} set to {level}", level_set=level)
    return get_levels()


# --- planted bugs ---


def _bug_row() -> Any:
    return (
        db.get_db()
        .execute(
            "select bug, secret, guesses, found_at from logging_bugs where workspace = ?",
            [db.workspace()],
        )
        .fetchone()
    )


def _choices() -> list[dict[str, str]]:
    return [{"name": n, "title": b["title"]} for n, b in bugs.BUGS.items()]


@bp.get("/bugs")
def bug_state() -> dict[str, Any]:
    """Whether a bug is planted (not which one), and the bugs it may be."""
    row = _bug_row()
    planted = bool(row and row["bug"])
    state = {"planted": planted, "choices": _choices()}
    if planted:
        state |= {"secret": bool(row["secret"]), "guesses": row["guesses"]}
        state["found"] = row["found_at"] is not None
        if not row["secret"] or row["found_at"]:
            state["bug"] = bugs.describe(row["bug"])
    return state


@bp.post("/bugs")
def plant() -> tuple[dict[str, Any], int]:
    """Plant a bug at random ({"planted": true}), or a named one, or remove it."""
    data = read(BugSwitch).model_dump()
    conn = db.get_db().conn
    with conn:
        if data["planted"]:
            bugs.plant(conn, db.workspace(), db.now(), data.get("bug"))
        else:
            bugs.remove(conn, db.workspace())
    word = "planted" if data["planted"] else "removed"
    event("logging", f"a bug was {word}", bug_switch=word)  # never which: the learner finds out
    return bug_state(), 200


@bp.post("/bugs/answer")
def answer() -> dict[str, Any]:
    """Name the planted bug; the server says whether that is it."""
    data = read(BugAnswer).model_dump()
    row = _bug_row()
    if not row or not row["bug"]:
        raise Conflict(
            'No bug is planted in your sandbox. Plant one first: POST /logging/bugs {"planted": '
            "true}, then look for it in the logs and records."
        )
    conn = db.get_db().conn
    if data["bug"] != row["bug"]:
        with conn:
            conn.execute(
                "update logging_bugs set guesses = guesses + 1 where workspace = ?",
                [db.workspace()],
            )
        event("logging", "a wrong answer", found=False)
        raise ValidationFailed(
            [{"field": "bug", "message": f"{data['bug']!r} is not the bug planted here."}],
            detail=f"{data['bug']!r} is not the bug planted here. Find evidence before you "
            "answer: page through the notes (GET /api/notes?limit=2&offset=2), edit one and "
            "look at its times, count the SQL of a list's record, and send two edits at once; "
            "the DEBUG log lines of the notes module say what each step did.",
        )
    with conn:
        conn.execute(
            "update logging_bugs set found_at = coalesce(found_at, ?) where workspace = ?",
            [db.now(), db.workspace()],
        )
    event("logging", f"the bug was found: {row['bug']}", found=True, secret=bool(row["secret"]))
    return {"correct": True, "bug": bugs.describe(row["bug"]), "secret": bool(row["secret"])}


# --- the drill: a burst of work, one of which fails; find its record from its log line ---


def _import_rows(batch: int, rows: list[dict[str, Any]]) -> int:
    """Add up the rows of one imported batch (a batch with a bad row fails)."""
    total = 0
    for row in rows:
        total += int(row["count"])  # a count of "twelve" fails here
    logs.logger("logging").info(f"import batch {batch}: {len(rows)} rows", extra={"total": total})
    return total


@bp.post("/drill")
def drill() -> tuple[dict[str, Any], int]:
    """Run a burst of import jobs, one of which fails; answer only its log message."""
    app, parent = current_app._get_current_object(), current_record()
    workspace, failing = db.workspace(), random.randrange(DRILL_JOBS)  # noqa: S311
    message = None
    for batch in range(DRILL_JOBS):
        rows = [{"count": str(n)} for n in range(3)]
        if batch == failing:
            rows.append({"count": "twelve"})
        try:
            with outside_request(
                app, workspace, "IMPORT", f"import batch {batch}", parent=parent and parent.id
            ) as record:
                try:
                    _import_rows(batch, rows)
                except ValueError as error:
                    logs.track(record, error)
                    message = f"unhandled ValueError: {error}"
                    raise
        except ValueError:
            pass  # kept in its record and its log lines: finding it is the drill
    return {
        "jobs": DRILL_JOBS,
        "failed": 1,
        "log_message": message,
        "detail": f"{DRILL_JOBS} import jobs ran and one failed; its log line says "
        f"{message!r}. Find it (GET /logging/lines?level=ERROR), read its record_id, "
        'and POST /logging/drill/answer {"record": "<that id>"}.',
    }, 200


@bp.post("/drill/answer")
def drill_answer() -> dict[str, Any]:
    """Name the record of the import job that failed."""
    data = read(RecordAnswer).model_dump()
    found = records().get(data["record"])
    if found is None:
        raise ValidationFailed(
            [{"field": "record", "message": "No record of yours has this id."}],
            detail=f"There is no record {data['record']!r} among your recent ones. Copy the "
            "record_id of the ERROR log line of the drill (GET /logging/lines?level=ERROR).",
        )
    if found.method != "IMPORT" or found.exception is None:
        raise ValidationFailed(
            [{"field": "record", "message": "This record is not the failed import."}],
            detail=f"Record {found.id} is {found.method} {found.path}, status {found.status}: "
            "not the import job that failed. Its log line is at level ERROR.",
        )
    event("logging", f"record {found.id} of the failed import found", found_record=found.id)
    return {"correct": True, "record": found.summary(), "exception": found.exception["type"]}


# --- spot the N+1: name a list's record and how many statements it ran ---


@bp.post("/n-plus-one")
def n_plus_one() -> dict[str, Any]:
    """Name the record of a notes list that ran one query per note, and its SQL count."""
    data = read(NPlusOneAnswer).model_dump()
    found = records().get(data["record"])
    if found is None or found.method != "GET" or found.path not in ("/api/notes", "/notes"):
        raise ValidationFailed(
            [{"field": "record", "message": "Not the record of a list of notes of yours."}],
            detail="Name the record of a GET /api/notes request (its X-Sandbox-Trace header).",
        )
    count = len(found.sql) + found.sql_dropped
    per_note = sum(s["sql"].startswith(bugs.PER_NOTE_SQL) for s in found.sql)
    if data["sql_count"] != count:
        raise ValidationFailed(
            [{"field": "sql_count", "message": f"Count again: it is not {data['sql_count']}."}],
            detail=f"Record {found.id} did not run {data['sql_count']} statements: count the "
            "entries of its sql list (sql_count in GET /sandbox/traces).",
        )
    if per_note < 2:
        raise ValidationFailed(
            [{"field": "record", "message": "This list ran no query per note."}],
            detail=f"Record {found.id} ran {count} statements, none of them once per note: "
            "with the N+1 bug planted, list at least two notes and name that record.",
        )
    event("logging", f"N+1 spotted: {per_note} queries, one per note", spotted=per_note)
    return {"correct": True, "sql_count": count, "per_note": per_note}
