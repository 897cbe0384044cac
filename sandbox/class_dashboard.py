"""The instructor's dashboard: ``/class/``, the room live, and the JSON behind it.

Every view of the page is JSON first (``GET /class/api/students``, ...), so a
notebook drives the class as the page does:
``Sandbox.connect(url, token=instructor_token).class_progress()``. Only an
instructor gets past the guard (see ``classroom.guard``): a student's token is a
403, no login a 401. Every action (reset, switch, lock, join code, export) is
noted as an event in the record of the request that did it, and in the class's
log of actions the page shows.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from pydantic import Field

from . import class_handouts, class_room, class_students, db, snapshots
from . import class_instructors as instructors
from .errors import NotFound, Unauthorized, ValidationFailed
from .record import event
from .registry import registry
from .validation import Body, Query, query_int, read, read_query


class InstructorLogin(Body):
    """An instructor's name and password, from a notebook (the page sends a form)."""

    name: str = Field(max_length=64, description="the instructor's name")
    password: str = Field(max_length=512, description="the instructor's password")


class ModuleRule(Body):
    """A module's state for the whole class: on or off, locked or not (either or both)."""

    enabled: bool = Field(None, description="true or false: the module for everyone")
    locked: bool = Field(None, description="true or false: whether students may switch it")


class HandOut(Body):
    """Hand out a workspace's state to every student, as it is now or as one snapshot."""

    name: str = Field(
        pattern=r"^[a-z0-9-]{1,40}$",
        description="the hand-out's name: students see class:<name> (like class:lesson-3)",
    )
    workspace: str = Field(
        pattern=r"^[a-z0-9]{6,32}$", description="the workspace to take it of (yours, say)"
    )
    snapshot: str | None = Field(
        None,
        pattern=r"^[a-z0-9-]{1,40}$",
        description="one of that workspace's snapshots; left out: the workspace as it is now",
    )
    start: bool = Field(False, description="true: every student who joins from now starts from it")


class HandoutStart(Body):
    """Whether students who join from now start from this hand-out."""

    start: bool = Field(description="true: new students start from it; false: they do not")


bp = Blueprint("class_dashboard", __name__, url_prefix="/class")
# The JSON behind every view; a notebook reads the same.
api = Blueprint("class_api", __name__, url_prefix="/class/api")

# Routes anyone may open: the login form and the login itself (the guard lets them by).
OPEN = {"class_dashboard.login_page", "class_dashboard.login"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@bp.before_request
@api.before_request
def class_mode_only() -> None:
    """Answer 404 on a laptop: there is no class to show."""
    if not current_app.config["SANDBOX_CLASS_MODE"]:
        raise NotFound(
            "This sandbox does not serve a class. Start one with python app.py --class-mode."
        )


# --- logging in and out ---


@bp.get("/login")
def login_page() -> Response:
    """Show the instructor's login form."""
    return _login_form()


def _login_form(error: str | None = None, status: int = 200) -> Response:
    # The form's CSRF token is also in a cookie only this site's pages are sent with: a form
    # on another site can send neither (the double-submit pattern, with no session needed).
    token = request.cookies.get(instructors.CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = make_response(
        render_template("class_login.html", csrf=token, error=error, room=class_room.preset()),
        status,
    )
    response.set_cookie(
        instructors.CSRF_COOKIE,
        token,
        path=f"{request.script_root}/class",
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    return response


@bp.post("/login")
def login() -> Any:
    """Log an instructor in: a form gets the cookie, JSON gets a token for a notebook."""
    throttle: instructors.Throttle = current_app.extensions["sandbox.class_throttle"]
    address = request.remote_addr or "?"
    throttle.check(address)
    is_form = request.mimetype in FORM_TYPES
    if is_form:
        sent = request.form.get("csrf_token", "")
        expected = request.cookies.get(instructors.CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(sent.encode(), expected.encode()):
            # A form from another site, or one shown before the browser lost its cookie.
            event("class", "instructor login refused: no CSRF token", decision="csrf")
            return _login_form("This form was out of date: log in again.", 403)
        name, password = request.form.get("name", ""), request.form.get("password", "")
    else:
        data = read(InstructorLogin)
        name, password = data.name, data.password
    if not instructors.password_ok(name, password):
        throttle.failed(address)
        event("class", "instructor login refused: wrong name or password", decision="refused")
        if is_form:
            return _login_form("Wrong name or password.", 401)
        raise Unauthorized(
            "Wrong name or password. The first instructor is 'instructor', with the password "
            "printed when the class server first started; `python app.py class instructor "
            "NAME` sets a new one."
        )
    name = name.strip().lower()
    event("class", f"instructor {name} logged in")
    if not is_form:
        return {
            "name": name,
            "token": instructors.issue(name, "token"),
            "expires_in": instructors.TOKEN_SECONDS,
        }
    response = redirect(url_for(".page"), 303)
    instructors.set_cookie(response, name)
    return response


@bp.post("/logout")
def logout() -> Any:
    """Log out: every cookie and token of this instructor stops working."""
    name = instructors.current()
    instructors.sign_out(name)
    event("class", f"instructor {name} logged out everywhere")
    if request.mimetype in FORM_TYPES:
        response = redirect(url_for(".login_page"), 303)
        instructors.clear_cookie(response)
        return response
    return {"status": "logged out", "name": name}


# --- the page ---


@bp.get("/")
def page() -> str:
    """Show the dashboard: the room, live."""
    return render_template(
        "class_dashboard.html",
        room=class_room.preset(),
        csrf=g.get("class_csrf", ""),
        instructor=instructors.current(),
    )


# --- the JSON behind it ---


# What the dashboard's JSON may be asked, checked by these models like every other query.
Sort = Literal[tuple(k for key in class_students.SORT_KEYS for k in (key, f"-{key}"))]  # type: ignore[valid-type]


class StudentFilter(Query):
    """Which students, in which order: ``?q=bo&sort=-solved``."""

    q: str = Field("", max_length=100, description="Only names containing this")
    sort: Sort = Field("joined_at", description="A column; a leading - sorts descending")


class StudentRecords(Query):
    """How many of a student's records to show."""

    records: query_int(1, 500) = Field(50, description="How many recent records")


class ActionsQuery(Query):
    """How many of the instructors' actions to show."""

    limit: query_int(1, 1000) = Field(50, description="How many, newest first")


@api.get("/room")
def room() -> Any:
    """The room: its preset, module rules, join code, challenges in scope, instructors."""
    reg = registry()
    rules = class_room.rules()
    _, _, states = class_students.tables()
    students = class_room.student_ids()
    chosen = class_room.preset()
    return {
        "name": chosen.name,
        "preset": chosen.describe(),
        "preset_text": chosen.text,
        "join": {
            **class_room.code_state(),
            "url": url_for("pages.index", _external=True),
            "students": len(students),
            "max_workspaces": current_app.config["SANDBOX_CLASS_MAX_WORKSPACES"],
        },
        "modules": [
            {
                "name": name,
                "title": module.title,
                **rules[name],
                "on_in": sum(
                    states.get(w, {}).get(name, module.enabled_by_default) for w in students
                ),
            }
            for name, module in reg.modules.items()
        ],
        "challenges": [
            {"id": c.id, "module": m, "title": c.title} for m, c in class_students.in_scope()
        ],
        "instructor": instructors.current(),
        "instructors": instructors.names(),
    }


@api.get("/students")
def students() -> Any:
    """Every student: progress, last activity, requests in the last minute, last error."""
    rows, scope = class_students.rows(), class_students.in_scope()
    asked = read_query(StudentFilter)
    query = asked.q.strip().lower()
    if query:
        rows = [r for r in rows if query in r["name"].lower()]
    key = class_students.SORT_KEYS[asked.sort.lstrip("-")]
    rows.sort(key=key, reverse=asked.sort.startswith("-"))
    return {
        "students": rows,
        "modules": list(dict.fromkeys(module for module, _ in scope)),
        "total": len(scope),
        "at": db.now(),
    }


@api.get("/students/<workspace>")
def student(workspace: str) -> Any:
    """One student: their row, every challenge in scope, their modules, their records."""
    return class_students.detail(workspace, read_query(StudentRecords).records)


@api.get("/students/<workspace>/records/<trace_id>")
def student_record(workspace: str, trace_id: str) -> Any:
    """One record of a student's workspace, in full."""
    return class_students.record(workspace, trace_id)


def _name_of(workspace: str) -> str:
    conn = db.get_db().conn
    row = conn.execute(
        "select display_name from class_workspaces where id = ?", (workspace,)
    ).fetchone()
    if row is None:
        raise NotFound(f"No student has the workspace '{workspace}'.")
    return row[0]


@api.post("/students/<workspace>/reset")
def reset_student(workspace: str) -> Any:
    """Reset one student's workspace to the class's start; the others are left alone."""
    name = _name_of(workspace)
    class_room.reset_workspace(workspace)
    class_room.log_action(
        "reset", f"reset the workspace of {name} ({workspace})", workspace=workspace
    )
    return {"status": "reset", "workspace": workspace, "name": name}


@api.post("/reset")
def reset_all() -> Any:
    """Reset every student's workspace to the class's start."""
    workspaces = class_room.student_ids()
    for workspace in workspaces:
        class_room.reset_workspace(workspace)
    class_room.log_action("reset-all", f"reset every workspace ({len(workspaces)})")
    return {"status": "reset", "workspaces": len(workspaces)}


@api.patch("/modules/<name>")
def module_rule(name: str) -> Any:
    """Switch a module for everyone (``enabled``), lock or unlock it (``locked``)."""
    registry().get(name)  # an unknown module is a 404 problem naming the known ones
    data = read(ModuleRule).model_dump(exclude_unset=True)
    if not data:
        raise ValidationFailed(
            [{"field": "enabled", "message": "Send enabled, locked, or both (true or false)."}]
        )
    class_room.set_rule(name, enabled=data.get("enabled"), locked=data.get("locked"))
    rule = class_room.rules()[name]
    state = "on" if rule["enabled"] else "off"
    # A new state for everyone, or a lock: every workspace goes to the class's state.
    changed = class_room.switch_everywhere(name) if "enabled" in data or rule["locked"] else 0
    if "enabled" in data:
        class_room.log_action(
            "module", f"switched {name} {state} for everyone ({changed} workspace(s) changed)"
        )
    if "locked" in data:
        verb = f"locked {name} {state}" if rule["locked"] else f"unlocked {name}"
        class_room.log_action("module", f"{verb} for every student")
    return {"name": name, **rule, "changed": changed}


@api.post("/join-code/expire")
def expire_code() -> Any:
    """End the join code now: nobody else joins until a new one is made."""
    class_room.expire_code()
    class_room.log_action("join-code", "expired the join code")
    return class_room.code_state()


@api.post("/join-code/renew")
def renew_code() -> Any:
    """Make a new join code; the old one stops working."""
    class_room.renew_code()
    class_room.log_action("join-code", "made a new join code")
    return class_room.code_state()


@api.get("/progress.csv")
def progress_csv() -> Response:
    """Download the class's progress as CSV: one line per student, one column per challenge."""
    text, count = class_students.csv_text()
    class_room.log_action("export", f"exported the progress of {count} student(s) as CSV")
    day = db.now()[:10]
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="class-progress-{day}.csv"'},
    )


@api.get("/actions")
def action_log() -> Any:
    """What instructors did, newest first."""
    return {"actions": class_room.actions(read_query(ActionsQuery).limit)}


# --- hand-outs: a starting state for every student (class_handouts.py) ---


@api.get("/students/<workspace>/snapshots")
def student_snapshots(workspace: str) -> Any:
    """A workspace's snapshots, to pick one to hand out."""
    name = _name_of(workspace)
    with class_room.acting_in(workspace):
        return {"workspace": workspace, "name": name, "snapshots": snapshots.listing()}


@api.get("/handouts")
def handouts() -> Any:
    """The class's hand-outs, newest first, and the one new students start from."""
    return {"handouts": class_handouts.listing(), "start": class_handouts.start()}


@api.post("/handouts")
def hand_out() -> Any:
    """Hand out a workspace's state: every student may restore it as class:<name>."""
    asked = read(HandOut)
    student = _name_of(asked.workspace)
    made = class_handouts.hand_out(asked.name, asked.workspace, asked.snapshot, asked.start)
    what = f"snapshot '{asked.snapshot}'" if asked.snapshot else "the state now"
    class_room.log_action(
        "hand-out",
        f"handed out class:{asked.name}: {what} of {student}'s workspace ({asked.workspace})"
        + ("; new students start from it" if asked.start else ""),
    )
    return made, 201


@api.patch("/handouts/<name>")
def handout_start(name: str) -> Any:
    """Make new students start from this hand-out, or no longer."""
    path = class_handouts.existing(name)
    start = read(HandoutStart).start
    if start:
        class_handouts.set_start(name)
    elif class_handouts.start() == name:
        class_handouts.set_start(None)
    verb = "new students start from" if start else "new students no longer start from"
    class_room.log_action("hand-out", f"{verb} class:{name}")
    return class_handouts.describe(path)


@api.delete("/handouts/<name>")
def delete_handout(name: str) -> Any:
    """Delete a hand-out; what students restored of it stays theirs."""
    class_handouts.delete(name)
    class_room.log_action("hand-out", f"deleted the hand-out class:{name}")
    return "", 204


@api.post("/token")
def notebook_token() -> Any:
    """Make a token for a notebook: Sandbox.connect(url, token=...).class_progress()."""
    name = instructors.current()
    class_room.log_action("token", "made a notebook token")
    return {
        "name": name,
        "token": instructors.issue(name, "token"),
        "expires_in": instructors.TOKEN_SECONDS,
    }
