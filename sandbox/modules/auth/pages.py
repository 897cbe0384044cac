"""The auth module's account page for a browser: who you are, your tokens, log out.

Every form carries the CSRF token (sandbox/csrf.py): the session cookie goes along with
any request the browser sends here, even one another site starts, and the token is how
the server tells its own forms apart.
"""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Response, redirect, render_template, request, url_for

from sandbox.csrf import check_csrf
from sandbox.errors import NotFound, ValidationFailed
from sandbox.identity import Identity, current_identity

from . import tokens
from .token_views import TooManyTokens, make_token, revoke, token_fields
from .views import bp

DAYS = (1, 7, 30, 90)  # lifetimes the token form offers


def logged_in() -> Identity | None:
    """Return who is logged in with a session; the pages are for browsers, not tokens."""
    # A program holding a read-only token must not reach the token form here: that would
    # let it make itself a write token, which POST /auth/tokens refuses.
    identity = current_identity()
    return identity if identity is not None and identity.via == "session" else None


def _to_login() -> Response:
    return redirect(url_for("auth.login_page", next=url_for("auth.account")), 303)


def _account(identity: Identity, status: int = 200, **context: Any) -> Any:
    """Show the account page of whoever is logged in."""
    page = render_template(
        "auth_account.html",
        user=identity,
        tokens=[tokens.shown(t) for t in tokens.for_user(identity.user_id)],
        days=DAYS,
        **{"new_token": None, "errors": {}, "error": None, **context},
    )
    return page, status


@bp.get("/account")
def account() -> Any:
    """Show who you are, your tokens, and the buttons to make and revoke them or log out."""
    identity = logged_in()
    return _to_login() if identity is None else _account(identity)


@bp.post("/account/tokens")
def account_new_token() -> Any:
    """Make a token from the account page's form and show it, once."""
    check_csrf()
    identity = logged_in()
    if identity is None:
        return _to_login()
    days = request.form.get("days", "30")
    data = {
        "name": request.form.get("name", ""),
        "scope": request.form.get("scope", "read"),
        # isascii() too: "²".isdigit() is true, and int("²") fails.
        "expires_in": int(days) * 86400
        if days.isascii() and days.isdigit() and len(days) < 6
        else -1,
    }
    try:
        token = make_token(identity, *token_fields(data))
    except ValidationFailed as failed:
        errors = {e["field"]: e["message"] for e in failed.extra["errors"]}
        return _account(identity, 422, errors=errors, error=failed.detail)
    except TooManyTokens as refused:
        return _account(identity, 409, error=refused.detail)
    return _account(identity, 201, new_token=token)


@bp.post("/account/tokens/<int:token_id>/revoke")
def account_revoke_token(token_id: int) -> Response:
    """Revoke a token from the account page, then show the page again."""
    check_csrf()
    identity = logged_in()
    if identity is None:
        return _to_login()
    # A token gone already, or never theirs, is a 404 to the API; here the page shows what is left.
    with contextlib.suppress(NotFound):
        revoke(identity, token_id)
    return redirect(url_for("auth.account"), 303)
