"""Auth: confirming who a user is, and deciding what they may do

Accounts with scrypt-hashed passwords, sessions in a signed cookie, bearer
tokens with a scope and an expiry for the API, every note owned by its author,
and throttled login attempts. Switch it off and everyone is one shared guest
who can read and change every note: exactly what authentication protects.
"""

from typing import Any

from flask import Flask

from sandbox.record import event
from sandbox.registry import Module

from . import pages, sessions, token_views  # noqa: F401  (they add routes to the blueprint)
from .challenges import CHALLENGES
from .cli import users_cli
from .identity import SessionsAndTokens
from .openapi import openapi
from .views import bp


def init_app(app: Flask) -> None:
    """Bind flask-login and the recorded cookie sessions."""
    sessions.init_app(app)


def reset(conn: Any, workspace: str) -> None:
    """Delete the workspace's accounts and everything that hangs off them (schema.sql)."""
    # Accounts last: sessions and tokens point at users.
    for table in ("login_failures", "tokens", "sessions", "users"):
        conn.execute(f"delete from {table} where workspace = ?", (workspace,))


def on_toggle(conn: Any, workspace: str, enabled: bool) -> None:
    """Say what switching auth does to the notes written while it was off."""
    if not enabled:
        event("auth", "auth off: everyone is the shared guest again and sees every note")
        return
    count = conn.execute(
        "select count(*) from notes where workspace = ? and owner = 'guest'", (workspace,)
    ).fetchone()[0]
    if count:
        # Not given to anyone: which account should they go to? Switching auth off shows them.
        event(
            "auth",
            f"auth on: the {count} note(s) written while it was off belong to 'guest', whom "
            "nobody can log in as, so no account sees them; switch auth off to see them again",
            guest_notes=count,
        )


module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    challenges=CHALLENGES,
    enabled_by_default=False,
    before_request=sessions.note_cookie_problem,
    provides={"identity": SessionsAndTokens()},
    init_app=init_app,
    on_toggle=on_toggle,
    reset=reset,
    commands=(users_cli,),  # python app.py users add NAME --role instructor
    openapi=openapi,
    # A hand-out carries the accounts (a lesson may start from them), never anyone's
    # logins: a session or token made in the instructor's workspace opens no student's.
    not_handed_out=("sessions", "tokens", "login_failures"),
)
