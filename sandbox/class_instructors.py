"""Instructors: the class's own accounts, and how an instructor proves who they are.

An instructor is not a user of any workspace (the auth lesson's users belong to a
student's workspace, and a student may reset them): instructors live in the class's
own database file, ``class.db``, that no student's SQL console opens. The first
start in class mode makes one, ``instructor``, with a random password printed once;
``python app.py class instructor NAME`` adds another (or gives one a new password).

Logged in at ``/class/login``, an instructor holds a **signed cookie** of its own
(``sandbox_instructor``, sent to ``/class/`` only, never to a workspace), or a
**token** for a notebook (``Sandbox.connect(url, token=...)``). Both are signed with
the server's secret key (itsdangerous, the library behind Flask's own session
cookie), so the server keeps no session table: it checks the signature, the age and
the instructor's *epoch*, a counter that logging out raises, which turns every older
cookie and token of that instructor into nothing.
"""

from __future__ import annotations

import hmac
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from flask import Flask, current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from . import db
from .errors import Forbidden, SandboxError, Unauthorized, ValidationFailed
from .record import event

CLASS_DATABASE = "class.db"
COOKIE = "sandbox_instructor"
CSRF_COOKIE = "sandbox_class_csrf"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_HEADER = "X-Sandbox-Token"
FIRST_NAME = "instructor"
NAME = re.compile(r"[a-z0-9_.-]{2,32}")
PASSWORD_MIN = 12  # an instructor's account opens every student's workspace: longer than 8
COOKIE_SECONDS = 12 * 3600  # a lab day; then log in again
TOKEN_SECONDS = 7 * 24 * 3600  # a notebook token: a week of classes
# Wrong passwords per address before /class/login answers 429 for a while. The room shares
# one address behind its router, so this is per address and generous: it stops a script
# guessing, not a student who tries twice.
FAILURES_ALLOWED = 30
FAILURE_WINDOW = 15 * 60

# Checked against a password for a name that does not exist, so that a wrong name takes as
# long as a wrong password (scrypt with werkzeug's cost, random salt and hash: nothing matches).
_DUMMY_HASH = f"scrypt:32768:8:1${secrets.token_hex(8)}${secrets.token_hex(64)}"


class TooManyAttempts(SandboxError):
    """Too many wrong passwords from one address."""

    status = 429
    title = "Too many attempts"


def database_path(app: Flask | None = None) -> Path:
    """Return the path of the class's own database file."""
    return Path((app or current_app).instance_path) / CLASS_DATABASE


def connect(app: Flask | None = None) -> sqlite3.Connection:
    """Open the class's database (untraced: its rows are not a student's lesson)."""
    return db.connect(database_path(app), traced=False)


def init_db(app: Flask) -> None:
    """Create the class's tables on first start."""
    conn = connect(app)
    try:
        conn.execute("PRAGMA journal_mode=wal")
        conn.executescript(resources.files("sandbox").joinpath("class_schema.sql").read_text())
    finally:
        conn.close()


# --- accounts ---


def check_new(name: str, password: str) -> str:
    """Return the name as stored, or raise ValidationFailed saying what is wrong."""
    name = name.strip().lower()
    errors = []
    if not name.isascii() or not NAME.fullmatch(name):
        errors.append({"field": "name", "message": "2 to 32 characters: a-z, 0-9, _ . -"})
    if len(password) < PASSWORD_MIN:
        errors.append(
            {"field": "password", "message": f"At least {PASSWORD_MIN} characters, please."}
        )
    if errors:
        raise ValidationFailed(errors)
    return name


def save(name: str, password: str, app: Flask | None = None) -> bool:
    """Add an instructor, or give one a new password; return True if the name is new.

    A new password also signs the instructor out everywhere (the epoch goes up).
    """
    name = check_new(name, password)
    hashed = generate_password_hash(password, method="scrypt")
    conn = connect(app)
    try:
        with conn:
            known = conn.execute(
                "select 1 from class_instructors where name = ?", (name,)
            ).fetchone()
            conn.execute(
                "insert into class_instructors (name, password_hash, created_at) values (?, ?, ?) "
                "on conflict (name) do update set password_hash = excluded.password_hash, "
                "epoch = epoch + 1",
                (name, hashed, db.now()),
            )
    finally:
        conn.close()
    return known is None


def make_first(app: Flask) -> str | None:
    """Make the first instructor, on the first start of a class; return its password once."""
    password = secrets.token_urlsafe(15)  # 20 characters, 120 bits: never guessed
    hashed = generate_password_hash(password, method="scrypt")
    conn = connect(app)
    try:
        with conn:
            conn.execute("BEGIN IMMEDIATE")  # two processes starting at once: one makes it
            if conn.execute("select 1 from class_instructors limit 1").fetchone():
                return None
            conn.execute(
                "insert into class_instructors (name, password_hash, created_at) values (?, ?, ?)",
                (FIRST_NAME, hashed, db.now()),
            )
    finally:
        conn.close()
    return password


def names(app: Flask | None = None) -> list[str]:
    """Return every instructor's name."""
    conn = connect(app)
    try:
        return [r[0] for r in conn.execute("select name from class_instructors order by name")]
    finally:
        conn.close()


def password_ok(name: str, password: str) -> bool:
    """Check a password; as slow for a name that does not exist as for a wrong password."""
    conn = connect()
    try:
        row = conn.execute(
            "select password_hash from class_instructors where name = ?", (name.strip().lower(),)
        ).fetchone()
    finally:
        conn.close()
    matches = check_password_hash(row[0] if row else _DUMMY_HASH, password)
    return matches and row is not None


def _epoch(name: str) -> int | None:
    conn = connect()
    try:
        row = conn.execute("select epoch from class_instructors where name = ?", (name,)).fetchone()
    finally:
        conn.close()
    return None if row is None else row[0]


def sign_out(name: str) -> None:
    """End every cookie and token of an instructor."""
    conn = connect()
    try:
        with conn:
            conn.execute("update class_instructors set epoch = epoch + 1 where name = ?", (name,))
    finally:
        conn.close()


# --- signed cookies and tokens ---


def _signer(kind: str) -> URLSafeTimedSerializer:
    # A salt per kind: a cookie is never accepted as a token, nor the other way round.
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"sandbox.class.{kind}")


def issue(name: str, kind: str) -> str:
    """Return a signed cookie value or token for an instructor ("cookie" or "token")."""
    # "s", a random session id, makes every login's value different; the CSRF token of a
    # dashboard page is derived from it.
    return _signer(kind).dumps({"n": name, "e": _epoch(name), "s": secrets.token_urlsafe(9)})


def _verify(value: str, kind: str) -> dict[str, Any] | None:
    """Return the signed data if the value is ours, young enough and not signed out."""
    max_age = COOKIE_SECONDS if kind == "cookie" else TOKEN_SECONDS
    try:
        data = _signer(kind).loads(value, max_age=max_age)
    except BadSignature:  # also SignatureExpired, its subclass
        return None
    if not isinstance(data, dict) or _epoch(data.get("n", "")) != data.get("e"):
        return None
    return data


def csrf_token(session_id: str) -> str:
    """Return the dashboard's CSRF token for one login (derived, so nothing is stored)."""
    key = current_app.secret_key
    key = key.encode() if isinstance(key, str) else key
    return hmac.new(key, f"class-csrf:{session_id}".encode(), "sha256").hexdigest()


def set_cookie(response: Any, name: str) -> None:
    """Log an instructor's browser in."""
    # Path=/class: no workspace's page ever receives it. HttpOnly: no script reads it.
    # SameSite=Strict: no link or form on another site sends it along.
    response.set_cookie(
        COOKIE,
        issue(name, "cookie"),
        max_age=COOKIE_SECONDS,
        path=f"{request.script_root}/class",
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )


def clear_cookie(response: Any) -> None:
    """Log a browser out."""
    response.delete_cookie(
        COOKIE, path=f"{request.script_root}/class", httponly=True, samesite="Strict"
    )


# --- the check before every instructor route ---


def current() -> str | None:
    """Return the instructor this request comes from (after the check), or None."""
    return g.get("class_instructor")


def check(is_student: Callable[[], bool]) -> None:
    """Let only an instructor through; a student's token is a 403, nothing at all a 401.

    ``is_student()`` says whether the request carries a student's workspace token.
    """
    sent = request.headers.get(TOKEN_HEADER)
    if sent:
        data = _verify(sent, "token")
        if data is None:
            _refuse(is_student())
        g.class_instructor, g.class_via = data["n"], "token"
        return
    cookie = request.cookies.get(COOKIE)
    data = _verify(cookie, "cookie") if cookie else None
    if data is None:
        _refuse(is_student())
    g.class_instructor, g.class_via = data["n"], "cookie"
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        # The cookie goes along by itself, so a change must also show it comes from the
        # dashboard page: the page holds a token that a page on another site cannot read.
        sent_csrf = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token", "")
        expected = csrf_token(data["s"])
        if not hmac.compare_digest(sent_csrf.encode(errors="replace"), expected.encode()):
            event("sandbox", "class action refused: no CSRF token", decision="csrf")
            raise Forbidden(
                "This change came without the dashboard's CSRF token. Send it from the "
                f"dashboard page (it sends the {CSRF_HEADER} header), or use a notebook "
                "token (X-Sandbox-Token) instead of the browser's cookie."
            )
    g.class_csrf = csrf_token(data["s"])


def _refuse(student: bool) -> NoReturn:
    if student:
        event("sandbox", "class dashboard refused: a student's workspace token", decision="student")
        raise Forbidden(
            "This is the instructors' side of the class, and the token sent is a student's "
            "workspace token. Your workspace is at the URL you got when you joined."
        )
    event("sandbox", "class dashboard refused: no instructor login", decision="no login")
    raise Unauthorized(
        "The class dashboard is for instructors: log in at /class/login in a browser, or send "
        "an instructor token in the X-Sandbox-Token header (POST /class/login with "
        '{"name": "...", "password": "..."} answers one). The first instructor\'s password was '
        "printed when the class server first started; `python app.py class instructor NAME` "
        "makes another.",
        headers={"WWW-Authenticate": 'Token realm="sandbox class"'},
    )


# --- guessing passwords ---


class Throttle:
    """Wrong passwords per address in a sliding window, kept in class.db.

    In the database, not in memory: with several worker processes (--workers) a guesser's
    tries land on all of them, and each must count them all.
    """

    def __init__(self, app: Flask):
        self.app = app

    def check(self, address: str) -> None:
        """Refuse with a 429 when this address failed too often lately."""
        now = time.time()
        conn = connect(self.app)
        try:
            count, oldest = conn.execute(
                "select count(*), min(at) from class_login_failures where address = ? and at > ?",
                (address, now - FAILURE_WINDOW),
            ).fetchone()
        finally:
            conn.close()
        if count < FAILURES_ALLOWED:
            return
        wait = int(FAILURE_WINDOW - (now - oldest)) + 1
        raise TooManyAttempts(
            f"{FAILURES_ALLOWED} wrong passwords from this address in {FAILURE_WINDOW // 60} "
            f"minutes. Try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )

    def failed(self, address: str) -> None:
        """Count one wrong password (and forget those older than the window)."""
        now = time.time()
        conn = connect(self.app)
        try:
            with conn:
                conn.execute(
                    "delete from class_login_failures where at <= ?", (now - FAILURE_WINDOW,)
                )
                conn.execute(
                    "insert into class_login_failures (address, at) values (?, ?)", (address, now)
                )
        finally:
            conn.close()
