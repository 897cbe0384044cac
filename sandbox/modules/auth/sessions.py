"""Sessions: who is logged in, kept in a signed cookie and in a row that logout ends.

Flask keeps the session in a cookie that it *signs* with the secret key: the browser can
read it (it is only base64) but cannot change it without the server noticing. flask-login
puts the logged-in user's id in that cookie and loads the user on each request.

We give flask-login a random session secret instead of the user id (its "alternative
tokens" pattern) and keep a row per session in the database. The cookie alone is then
not enough: the row must still be open. Logout closes it, so a copied cookie stops
working at once, which a cookie holding just "user 7" never could.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, Request, request, session
from flask.sessions import SecureCookieSession
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from itsdangerous import BadSignature, SignatureExpired

from sandbox import db
from sandbox.record import event
from sandbox.workspaces import WorkspaceSessions

# Created here, bound to the app in init_app(): the extension pattern of flask-login.
login_manager = LoginManager()
# Even an open session ends after this long: a forgotten cookie does not work forever.
SESSION_LIFETIME = timedelta(hours=12)
# Where the session interface leaves word of a bad cookie for the request record.
COOKIE_PROBLEM = "sandbox.auth.cookie_problem"


class SessionUser(UserMixin):
    """A logged-in user as flask-login sees them: ``get_id()`` is the session's secret."""

    def __init__(self, secret: str, user: dict[str, Any]):
        self.secret = secret
        self.user_id = user["id"]
        self.username = user["username"]
        self.role = user["role"]

    def get_id(self) -> str:
        return self.secret


def secret_hash(secret: str) -> str:
    """Return the SHA-256 of a session secret: what the sessions table keeps."""
    return hashlib.sha256(secret.encode()).hexdigest()


def later(delta: timedelta) -> str:
    """Return the time ``delta`` from now, in the format every table uses."""
    return (datetime.now(timezone.utc) + delta).isoformat(timespec="milliseconds")


def start(user: dict[str, Any]) -> None:
    """Log a user in on a brand-new session: nothing from before the login survives."""
    end()  # logging in over an open session (as anyone) ends that one
    # Session fixation: an attacker who planted a session in your browser before you logged
    # in must not share it afterwards. clear() drops everything (the form token too), and the
    # new secret below is made here, never taken from the request.
    session.clear()
    secret = secrets.token_urlsafe(32)
    conn = db.get_db()
    # Housekeeping first: sessions past their end are worth nothing, so they need no row.
    conn.execute(
        "delete from sessions where workspace = ? and expires_at <= ?", [db.workspace(), db.now()]
    )
    conn.execute(
        "insert into sessions (workspace, user_id, secret_hash, created_at, expires_at) "
        "values (?, ?, ?, ?, ?)",
        [db.workspace(), user["id"], secret_hash(secret), db.now(), later(SESSION_LIFETIME)],
    )
    login_user(SessionUser(secret, user))


def end() -> bool:
    """End this request's session, in the database and in the cookie; return if there was one."""
    secret = session.get("_user_id")
    if secret is None:
        return False
    db.get_db().execute(
        "update sessions set ended_at = ? where workspace = ? and secret_hash = ? "
        "and ended_at is null",
        [db.now(), db.workspace(), secret_hash(secret)],
    )
    logout_user()
    session.clear()
    return True


@login_manager.user_loader
def load(secret: str) -> SessionUser | None:
    """Return the user of an open session, or None (flask-login calls this on each request)."""
    row = (
        db.get_db()
        .execute(
            "select sessions.expires_at, sessions.ended_at, users.id, users.username, users.role "
            "from sessions join users on users.id = sessions.user_id "
            "where sessions.workspace = ? and sessions.secret_hash = ?",
            [db.workspace(), secret_hash(secret)],
        )
        .fetchone()
    )
    if row is None:
        event("auth", "session unknown (ended by a reset?): not logged in", session="unknown")
        return None
    if row["ended_at"] is not None:
        event(
            "auth",
            f"session of {row['username']} ended at logout ({row['ended_at']}): "
            "this cookie no longer works",
            session="ended",
        )
        return None
    if row["expires_at"] <= db.now():
        event("auth", f"session of {row['username']} expired: log in again", session="expired")
        request.environ[COOKIE_PROBLEM] = "expired"  # the 401 says so too
        return None
    return SessionUser(secret, dict(row))


def current() -> SessionUser | None:
    """Return the user of this request's session, or None."""
    user = current_user._get_current_object()
    return user if user.is_authenticated else None


class RecordedSessionInterface(WorkspaceSessions):
    """Flask's signed-cookie sessions, except that a bad signature is noted, not just dropped."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not app.secret_key:
            return None  # no key, no sessions (Flask's own rule)
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            # Most requests (curl, the API, the playground) carry no cookie: nothing to
            # check, so no signer is built (building one per request is measurable).
            return self.session_class()
        serializer = self.get_signing_serializer(app)
        max_age = int(app.permanent_session_lifetime.total_seconds())
        try:
            return self.session_class(serializer.loads(cookie, max_age=max_age))
        except SignatureExpired:
            request.environ[COOKIE_PROBLEM] = "expired"
        except BadSignature:
            # Flask starts an empty session, silently. We do the same (a changed cookie
            # must count for nothing) and leave a note: the record opens only later, so
            # the auth module's before_request hook turns the note into an event.
            request.environ[COOKIE_PROBLEM] = "tampered"
        return self.session_class()

    def get_cookie_secure(self, app: Flask) -> bool:
        # Served over HTTPS: the browser must never send the cookie over plain HTTP.
        return bool(app.config["SESSION_COOKIE_SECURE"] or app.config.get("SANDBOX_HTTPS"))


def note_cookie_problem(record: Any) -> None:
    """Add an event to the record if this request's session cookie failed its check."""
    problem = request.environ.get(COOKIE_PROBLEM)
    if problem == "tampered":
        event(
            "auth",
            "session cookie signature invalid: the cookie was changed after the server "
            "signed it (or signed with another key), so it counts for nothing",
            cookie="tampered",
        )
    elif problem == "expired":
        event("auth", "session cookie too old: it counts for nothing", cookie="expired")


def init_app(app: Flask) -> None:
    """Bind flask-login and the recorded cookie sessions to the app."""
    login_manager.init_app(app)
    app.session_interface = RecordedSessionInterface()
    if app.config.get("SANDBOX_HTTPS"):
        app.config["SESSION_COOKIE_SECURE"] = True
