"""Class mode: one server for a room, every student in a workspace of their own.

``python app.py --class-mode`` makes a join code on first start and prints it. A
student joins with a name and the code (``POST /class/join``, or the form at
``/``) and gets a workspace: an id, its URL (``/w/<id>/``) and a token. The
token is the key to the workspace, like Jupyter's: only its SHA-256 is kept, so
whoever reads the database cannot use it, and joining again under the same name
gives the workspace back only to whoever holds it (a name is not a password).

The instructors' side lives next door: their accounts in ``class_instructors.py``,
the room's rules (modules locked or not, the join code's expiry) in
``class_room.py``, the dashboard at ``/class/`` in ``class_dashboard.py``, and the
preset file that sets a room up in ``class_preset.py``. This file's guard decides
who reaches which: a student only their workspace, an instructor only ``/class/``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    request,
    url_for,
)

from . import class_dashboard, class_handouts, class_instructors, class_room, db
from .class_preset import Preset
from .errors import NotFound, SandboxError, Unauthorized, ValidationFailed
from .record import event
from .registry import registry
from .validation import json_body
from .workspaces import ENVIRON_KEY, PREFIX

bp = Blueprint("classroom", __name__, url_prefix="/class")
View = TypeVar("View", bound=Callable[..., Any])

JOIN_CODE_KEY = class_room.JOIN_CODE_KEY
TOKEN_COOKIE = "sandbox_workspace"
TOKEN_HEADER = "X-Sandbox-Token"
NAME_MAX = 40


class JoinRefused(SandboxError):
    """The join code is wrong, or the class is full."""

    status = 403
    title = "Cannot join"


class NameTaken(SandboxError):
    """Someone joined under this name already, and this request does not hold its token."""

    status = 409
    title = "Name taken"


def is_class_mode(app: Flask | None = None) -> bool:
    """Return whether this server serves a class."""
    return bool((app or current_app).config["SANDBOX_CLASS_MODE"])


def digest(token: str) -> str:
    """Return the SHA-256 of a token, the only form in which tokens are kept."""
    return hashlib.sha256(token.encode()).hexdigest()


def join_code(app: Flask) -> str:
    """Return the class's join code, making it on first start."""
    return class_room.code_state(app)["code"]


class Tokens:
    """The workspaces' token hashes, cached in memory: every request checks one."""

    def __init__(self) -> None:
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()

    def expected(self, workspace: str) -> str | None:
        """Return the token hash of a workspace, or None if there is no such workspace."""
        cached = self._hashes.get(workspace)
        if cached is not None:
            return cached
        conn = db.connect(db.database_path(), traced=False)  # not the student's request
        try:
            row = conn.execute(
                "select token_hash from class_workspaces where id = ?", (workspace,)
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return None
        with self._lock:
            self._hashes[workspace] = row["token_hash"]
        return row["token_hash"]


def opens_with_link(view: View) -> View:
    """Mark a view that a signed link opens without the workspace's token (a share link).

    The link's own signature is the proof there: its owner chose to show that one thing
    to whoever holds the link, a classmate included. Nothing else of the workspace opens.
    """
    view.opens_with_link = True  # type: ignore[attr-defined]
    return view


def sent_token() -> str:
    """Return the workspace token this request carries (header or cookie), or ''."""
    return request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""


def check_workspace() -> Response | None:
    """Let a request into its workspace only with that workspace's token."""
    workspace = request.environ[ENVIRON_KEY]
    expected = current_app.extensions["sandbox.class_tokens"].expected(workspace)
    if expected is None:
        raise NotFound(
            f"There is no workspace '{workspace}' in this class. Join at the server's front "
            "page (or POST /class/join) to get yours."
        )
    from_query = request.args.get("token", "")
    if request.method == "GET" and hmac.compare_digest(digest(from_query), expected):
        # Once, from the link: into a cookie for this workspace's URLs only, and out of the
        # address bar, where a screenshot or the browser's history would show it.
        query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "token"])
        response = redirect(request.script_root + request.path + (f"?{query}" if query else ""))
        set_token_cookie(response, from_query, request.script_root + "/")
        return response
    if hmac.compare_digest(digest(sent_token()), expected):
        if request.endpoint == "sandbox.toggle_module" and request.method == "PATCH":
            class_room.refuse_if_locked((request.view_args or {}).get("name", ""))
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "opens_with_link", False):
        return None
    event("sandbox", f"workspace {workspace}: no valid token", decision="no token")
    raise Unauthorized(
        "This workspace belongs to a student of the class, and this request does not carry "
        "its token. Join the class at the server's front page (or POST /class/join) to get "
        "your own workspace, or open your workspace's link with ?token=... once; a notebook "
        "uses Sandbox.connect(url, token=...).",
        headers={"WWW-Authenticate": 'Token realm="sandbox workspace"'},
    )


def set_token_cookie(response: Response, token: str, path: str) -> None:
    """Keep a workspace token in a cookie that the browser sends to that workspace only."""
    # HttpOnly: no page script reads it. SameSite=Strict: no other site's link carries it.
    # Path=/w/<id>/: a classmate's workspace, open in the same browser, never receives it.
    response.set_cookie(
        TOKEN_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path=path
    )


# Routes outside any workspace that a class server answers: joining, health, files, and
# the instructors' login.
OPEN_ENDPOINTS = {"classroom.join", "sandbox.health", "static", "pages.index"}
OPEN_ENDPOINTS |= class_dashboard.OPEN


def is_student_token(token: str) -> bool:
    """Return whether a token is the token of some student's workspace."""
    conn = db.connect(db.database_path(), traced=False)
    try:
        row = conn.execute(
            "select 1 from class_workspaces where token_hash = ?", (digest(token),)
        ).fetchone()
    finally:
        conn.close()
    return row is not None


def check_instructor() -> Response | None:
    """Let only an instructor into the dashboard; a browser without a login goes to log in."""
    try:
        class_instructors.check(lambda: bool(sent_token()) and is_student_token(sent_token()))
    except Unauthorized:
        if request.endpoint == "class_dashboard.page" and request.method == "GET":
            return redirect(url_for("class_dashboard.login_page"), 303)
        raise
    return None


def check_outside_workspace() -> Response | None:
    """Outside a workspace, a class server answers only the class's own routes."""
    if request.endpoint in OPEN_ENDPOINTS or request.endpoint is None:
        return None  # None: no route matched; the 404 problem says so
    if request.blueprint in (class_dashboard.bp.name, class_dashboard.api.name):
        return check_instructor()
    raise Unauthorized(
        "This sandbox serves a class: everything lives in your own workspace. Join at the "
        "front page (or POST /class/join with your name and the class's code) and use the "
        "URL you get back.",
        headers={"WWW-Authenticate": 'Token realm="sandbox workspace"'},
    )


def guard() -> Response | None:
    """Check a class request: a workspace needs its token; outside, only the class's routes."""
    if ENVIRON_KEY in request.environ:
        return check_workspace()
    return check_outside_workspace()


def after_own_reset(response: Response) -> Response:
    """After a student resets their workspace, put its modules at the class's start."""
    if (
        request.endpoint != "sandbox.reset"
        or response.status_code != 200
        or ENVIRON_KEY not in request.environ
        or not is_class_mode()
    ):
        return response
    changed = class_room.apply_start(request.environ[ENVIRON_KEY])
    if changed:
        event("class", "modules back to the class's start: " + ", ".join(changed))
        data = response.get_json(silent=True)
        if isinstance(data, dict) and "modules" in data:  # the answer says the state now
            reg = registry()
            data["modules"] = {name: reg.is_enabled(name) for name in reg.modules}
            response.set_data(json.dumps(data))
    return response


def _name(data: dict[str, Any]) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > NAME_MAX:
        raise ValidationFailed(
            [{"field": "name", "message": f"Your name: 1 to {NAME_MAX} characters."}]
        )
    if not name.isprintable():
        raise ValidationFailed([{"field": "name", "message": "Use printable characters only."}])
    return " ".join(name.split())


@bp.post("/join")
def join() -> Any:
    """Join the class: 201 with a new workspace, or 200 with yours if you hold its token."""
    is_form = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    data = dict(request.form) if is_form else json_body()
    name = _name(data)
    code = data.get("code")
    state = class_room.code_state()
    if not isinstance(code, str) or not hmac.compare_digest(
        code.strip().lower().encode(errors="replace"), state["code"].encode()
    ):
        event("sandbox", f"join refused for {name!r}: wrong code", decision="wrong code")
        raise JoinRefused(
            "That is not this class's join code. Ask your instructor for it: it is printed "
            "when the class server starts (python app.py class info prints it again)."
        )
    conn = db.get_db().conn
    with conn:
        conn.execute("BEGIN IMMEDIATE")  # two joins under one name: one creates, one finds
        row = conn.execute(
            "select id, token_hash from class_workspaces where name = ?", (name.lower(),)
        ).fetchone()
        if row is not None:
            token, status = sent_token(), 200
            if not hmac.compare_digest(digest(token), row["token_hash"]):
                raise NameTaken(
                    f"Someone joined as {name!r} already. If that was you, send your "
                    "workspace's token with the join (the X-Sandbox-Token header, or from the "
                    "browser you joined with); otherwise join under another name."
                )
            workspace = row["id"]
        else:
            if state["expired"]:
                event("sandbox", f"join refused for {name!r}: code expired", decision="expired")
                raise JoinRefused(
                    "This class's join code has expired, so nobody new joins. Ask your "
                    "instructor: the dashboard makes a new code."
                )
            count = conn.execute("select count(*) from class_workspaces").fetchone()[0]
            limit = current_app.config["SANDBOX_CLASS_MAX_WORKSPACES"]
            if count >= limit:
                raise JoinRefused(
                    f"This class has its {limit} workspaces already. Ask your instructor."
                )
            workspace, token, status = secrets.token_hex(5), secrets.token_urlsafe(24), 201
            conn.execute(
                "insert into class_workspaces (id, name, display_name, token_hash, created_at) "
                "values (?, ?, ?, ?, ?)",
                (workspace, name.lower(), name, digest(token), db.now()),
            )
            db.seed(conn, workspace)  # the same example notes a laptop starts with
    event("sandbox", f"{name!r} joined: workspace {workspace}", workspace=workspace)
    started = None
    if status == 201:
        class_room.apply_start(workspace)  # the modules the class starts with
        # and the state the instructor chose for newcomers, if any (class_handouts.py)
        started = class_handouts.start_new_student(workspace)
    url = url_for("pages.index", _external=True) + f"w/{workspace}/"
    if is_form:
        response = redirect(url, 303)
        set_token_cookie(response, token, f"{request.script_root}{PREFIX}{workspace}/")
        return response
    answer = {"workspace": workspace, "name": name, "url": url, "token": token}
    if started:
        answer["started_from"] = started
    return jsonify(answer), status


def init_app(app: Flask) -> None:
    """The join route and dashboard; in class mode, the preset, the code, the first instructor."""
    app.register_blueprint(bp)
    app.register_blueprint(class_dashboard.bp)
    app.register_blueprint(class_dashboard.api)
    app.extensions["sandbox.class_tokens"] = Tokens()
    app.extensions["sandbox.class_preset"] = Preset()
    if not is_class_mode(app):
        return
    class_instructors.init_db(app)
    chosen = class_room.load_preset(app)
    app.extensions["sandbox.class_preset"] = chosen
    if chosen.max_workspaces is not None:
        app.config["SANDBOX_CLASS_MAX_WORKSPACES"] = chosen.max_workspaces
    class_room.apply_preset(app)
    class_room.code_state(app)  # the join code, made once
    app.extensions["sandbox.class_first_password"] = class_instructors.make_first(app)
    app.extensions["sandbox.class_throttle"] = class_instructors.Throttle(app)
    app.after_request(after_own_reset)
