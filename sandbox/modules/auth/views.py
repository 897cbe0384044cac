"""The auth module's account routes: register, log in, log out, who am I, the accounts.

Register and log in also take the fields of an HTML form (GET shows the form); what
they answer, JSON or a page, follows the Accept header, so curl gets JSON and a browser
gets a page. Tokens have their routes in token_views.py.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, url_for
from pydantic import Field

from sandbox.csrf import check_csrf
from sandbox.errors import Forbidden, SandboxError, Unauthorized
from sandbox.identity import Identity, require_identity
from sandbox.record import event
from sandbox.validation import Body, UnsupportedMediaType, parse, read

from . import accounts, sessions, throttle
from .identity import REALM

# template_folder: the module's pages live in its own folder, with the rest of it.
bp = Blueprint("auth", __name__, url_prefix="/auth", template_folder="templates")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
SAFE_NEXT = re.compile(r"/[A-Za-z0-9/_.~%?&=+-]*")


class Credentials(Body):
    """A username and a password, as JSON or as a form. Checked whatever the validation
    module says: the sandbox's own safety (who may log in) rests on them."""

    username: str = Field(max_length=200, description="your username")
    password: str = Field(max_length=1024, description="your password")


class LoginFailed(Unauthorized):
    """The username or the password is wrong (the answer never says which)."""

    title = "Login failed"


class TooManyAttempts(SandboxError):
    """Too many failed logins lately, for this account or from this address."""

    status = 429
    title = "Too many attempts"


@bp.after_request
def _no_store(response: Response) -> Response:
    # Answers here hold account data and, once, a token: no browser or proxy may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    # And no other site may show these pages inside a frame of its own, where a trick page on
    # top could make you click "Revoke" or type your password into it (clickjacking).
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    response.headers["X-Frame-Options"] = "DENY"  # the same, for older browsers
    return response


# --- what a request sent, and whether another site could have sent it ---


def is_form() -> bool:
    """Return whether the body is an HTML form."""
    return request.mimetype in FORM_TYPES


def wants_html() -> bool:
    """Return whether the client prefers a page to JSON (a browser does, curl does not)."""
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def check_form(*, programs_may_skip_token: bool = False) -> None:
    """Refuse a form post that carries no CSRF token, unless no browser can have sent it."""
    if programs_may_skip_token and not any(
        h in request.headers for h in ("Cookie", "Origin", "Referer")
    ):
        # `curl -d username=...` sends no cookie, no Origin and no Referer. Is letting it in
        # without a token safe? The attack a token stops here is login CSRF: another site
        # makes the *victim's browser* post a login to the attacker's account, so that what
        # the victim writes next lands where the attacker can read it. A browser always sends
        # Origin with a cross-site POST (and usually Referer, and any cookie it has), so a
        # request with none of the three did not come from one. A program acts for whoever
        # runs it, and they could log in anyway.
        event("auth", "form from a program (no cookie, Origin or Referer): no CSRF token needed")
        return
    check_csrf()


def check_not_cross_site() -> None:
    """Refuse a post that relies on the session cookie unless it is JSON or carries the token."""
    if is_form():
        check_csrf()
    elif request.mimetype != "application/json":
        raise UnsupportedMediaType(
            "Send this as JSON (curl: --json '{}'; requests: json={}) or from the button on "
            "/auth/account. A page on another site cannot send JSON here without the sandbox's "
            "permission (a CORS preflight, which it never grants), so JSON proves the request "
            "is yours."
        )


def credentials() -> dict[str, str]:
    """Return the username and password sent as JSON or as form fields."""
    if is_form():
        check_form(programs_may_skip_token=True)
        data = {name: request.form.get(name, "") for name in ("username", "password")}
        return parse(Credentials, data).model_dump()
    return read(Credentials).model_dump()


def next_url() -> str | None:
    """Return where to go after a login: the ``next`` path, if it stays on this site."""
    target = request.values.get("next", "")
    # Only a plain path of this site. "//evil.example/" or "https://evil.example/" would
    # send a user who just logged in to another site: an open redirect, loved by phishers.
    # (Browsers drop tabs and newlines in URLs, so "/\t/evil.example" is refused too.)
    if SAFE_NEXT.fullmatch(target) and not target.startswith("//"):
        return request.script_root + target
    return None


def form_page(template: str, error: SandboxError) -> tuple[str, int, dict[str, str]]:
    """Show a form again with what was wrong, with the status and headers of the refusal."""
    errors = {e["field"]: e["message"] for e in error.extra.get("errors", [])}
    form = {"username": request.form.get("username", "")}  # never the password
    page = render_template(
        template, error=error.detail, errors=errors, form=form, next=request.form.get("next", "")
    )
    return page, error.status, error.headers


def profile(identity: Identity) -> dict[str, Any]:
    """Return who someone is, as /auth/me shows it."""
    return {
        "username": identity.username,
        "role": identity.role,
        "via": identity.via,
        "scope": identity.scope,
        "user_id": identity.user_id,
    }


# --- accounts and sessions ---


@bp.get("/login")
def login_page() -> str:
    """Show the login form (a POST to the same URL sends it)."""
    user = sessions.current()
    return render_template(
        "auth_login.html", form={}, errors={}, error=None, user=user, next=next_url() or ""
    )


@bp.get("/register")
def register_page() -> str:
    """Show the form that makes an account (a POST to the same URL sends it)."""
    return render_template("auth_register.html", form={}, errors={}, error=None, next="")


def log_in(username: str, password: str) -> dict[str, Any]:
    """Check a login, throttled; start a new session and return the account, or raise."""
    name = accounts.normalize_username(username)  # shown with !r: escapes control characters
    address = request.remote_addr or "unknown"
    # Counted as a failure first, then checked: see throttle.py for the race this closes.
    wait = throttle.attempt(name, address)
    if wait is not None:
        event(
            "auth",
            f"login for {name!r} from {address} throttled: too many failures in "
            f"{throttle.WINDOW_MINUTES} min; the password was not checked",
            decision="throttled",
            retry_after=wait,
        )
        raise TooManyAttempts(
            f"Too many failed logins for this account or from your address. Wait {wait} "
            "seconds (the Retry-After header says the same) and try again.",
            headers={"Retry-After": str(wait)},
        )
    user = accounts.find(name)
    if not accounts.password_matches(user, password):  # already counted: nothing to add
        why = "wrong password" if user else "no such user"
        event(
            "auth",
            f"login for {name!r} failed: {why} (the answer does not say which)",
            decision="refused",
        )
        raise LoginFailed(
            "Wrong username or password. Check both and try again; after "
            f"{throttle.PER_ACCOUNT} failures in {throttle.WINDOW_MINUTES} minutes, logins for "
            "the account pause.",
            headers={"WWW-Authenticate": REALM},
        )
    throttle.succeeded(name)  # right after all: the count, this attempt's too, starts again
    sessions.start(user)
    event("auth", f"user {name} logged in: a new session", decision="allowed", via="session")
    return user


@bp.post("/register")
def register() -> Any:
    """Make an account and log in to it: 201 with the account, or 422 saying what to change."""
    try:
        data = credentials()
        user = accounts.create(data["username"], data["password"])
    except SandboxError as error:
        if is_form() and wants_html():
            return form_page("auth_register.html", error)
        raise
    sessions.start(user)
    event("auth", f"account {user['username']} made ({user['role']}) and logged in")
    if is_form() and wants_html():
        return Response(status=303, headers={"Location": next_url() or url_for("auth.account")})
    body = {**accounts.public(user), "via": "session"}
    return jsonify(body), 201, {"Location": url_for("auth.me")}


@bp.post("/login")
def login() -> Any:
    """Log in: a new session cookie and 200 with the account, or 401 (or 429 when throttled)."""
    try:
        data = credentials()
        user = log_in(data["username"], data["password"])
    except SandboxError as error:
        if is_form() and wants_html():
            return form_page("auth_login.html", error)
        raise
    if is_form() and wants_html():
        return Response(status=303, headers={"Location": next_url() or url_for("auth.account")})
    return {**accounts.public(user), "via": "session"}


@bp.post("/logout")
def logout() -> Any:
    """End this session, here and in the database: the cookie stops working, copies too."""
    check_not_cross_site()
    user = sessions.current()
    if sessions.end():
        name = user.username if user else "someone"
        event("auth", f"user {name} logged out: session ended in the database", session="ended")
    else:
        event("auth", "logout without a session: nothing to end")
    if is_form() and wants_html():
        return Response(status=303, headers={"Location": url_for("auth.login_page")})
    return Response(status=204)


@bp.get("/me")
def me() -> dict[str, Any]:
    """Return who is asking: username, role, how they proved it; or 401."""
    return profile(require_identity(write=False))


@bp.get("/users")
def users() -> dict[str, Any]:
    """List every account: instructors only (a student gets 403, nobody 401)."""
    identity = require_identity(write=False)
    if identity.role != "instructor":
        event(
            "auth",
            f"user {identity.username} ({identity.role}) asked for the list of accounts: "
            "instructors only, 403",
            decision="forbidden",
        )
        raise Forbidden(
            "Only instructors may list the accounts. An instructor account is made on the "
            "command line: python app.py users add NAME --role instructor."
        )
    event("auth", f"instructor {identity.username} lists the accounts: allowed")
    return {"users": accounts.all_users()}
