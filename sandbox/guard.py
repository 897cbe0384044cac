"""Guard: the checks every request passes before any module sees it.

A sandbox on a learner's laptop is reachable by more than the learner: every website
open in their browser can send it requests, and a page can even trick the browser into
treating the sandbox as its own (DNS rebinding). Three checks, in this order, stop that:

1. **Host.** A browser names the site it thinks it is talking to in the ``Host`` header.
   A rebinding page on ``attacker.example`` makes the browser send
   ``Host: attacker.example`` to 127.0.0.1, so the sandbox answers only the names it was
   started for (127.0.0.1, localhost, [::1], the ``--host`` address, and
   ``SANDBOX_ALLOWED_HOSTS``).
2. **Origin.** A page on another site can still *send* a form or a fetch to
   http://127.0.0.1:5000 (cross-site request forgery). Browsers say where a request comes
   from (``Origin``, ``Sec-Fetch-Site``), so a request that changes state and comes from
   another origin is refused. curl, requests and notebooks send neither header: they are
   not a browser carrying someone else's page, and pass.
3. **Operator token.** Listening beyond loopback (``--host 0.0.0.0``), anyone on the
   network can reach the sandbox; then the control plane (switches, reset, the SQL console,
   records) asks for the token printed at start, the way Jupyter does.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Flask, Response, current_app, redirect, request

from . import classroom
from .errors import SandboxError, Unauthorized
from .record import event
from .registry import registry

# Methods that only read. Anything else (POST, PUT, PATCH, DELETE) may change state.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Where the operator token travels: this header, a cookie set after ?token= once.
TOKEN_HEADER = "X-Sandbox-Token"
TOKEN_COOKIE = "sandbox_operator"
TOKEN_QUERY = "token"
# Set in the WSGI environ by a front that has already checked who is asking: JupyterLab's
# proxy (sandbox/jupyter.py). The Host is then the front's public name, and a page that
# re-points a name there gains nothing: it has no login at the front. A client cannot set
# this key (headers reach the environ only as HTTP_* keys).
FRONT_CHECKED = "sandbox.front_checked"

View = TypeVar("View", bound=Callable[..., Any])


class UnknownHost(SandboxError):
    """The Host header names a site this sandbox was not started for."""

    title = "Unknown host"


class CrossSiteRequest(SandboxError):
    """A state-changing request sent by a page on another origin."""

    status = 403
    title = "Cross-site request refused"


def control_plane(view: View) -> View:
    """Mark a view as part of the control plane: it needs the operator token beyond loopback."""
    view.control_plane = True  # type: ignore[attr-defined]
    return view


def is_loopback(host: str) -> bool:
    """Return whether an address to listen on is reachable from this computer only."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """Return the name in a Host header, without its port ("[::1]:5000" -> "::1")."""
    if host_header.startswith("["):
        return host_header[1:].partition("]")[0].lower()
    return host_header.rpartition(":")[0].lower() if ":" in host_header else host_header.lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def host_allowed(name: str, config: Any) -> bool:
    """Return whether the sandbox answers requests for this host name."""
    listening = config["SANDBOX_HOST"].strip("[]").lower()
    if name in LOOPBACK_HOSTS or name == listening:
        return True
    extra = {h.lower() for h in config["SANDBOX_ALLOWED_HOSTS"]}
    if "*" in extra or name in extra:
        return True
    # Listening on every address (0.0.0.0): a client that typed this computer's IP address.
    # An IP address cannot be rebound (only a name can), so any IP literal is safe to answer.
    return listening in ("0.0.0.0", "::") and _is_ip(name)


def check_host() -> None:
    """Refuse a request whose Host header names a site this sandbox was not started for."""
    if request.environ.get(FRONT_CHECKED):
        return  # behind JupyterLab: the Host is its name (hub.example.edu), checked there
    name = _host_name(request.host)
    if host_allowed(name, current_app.config):
        return
    event(
        "sandbox",
        f"refused Host {name!r}: not a name this sandbox was started for. A page on another "
        "site that re-points its name at 127.0.0.1 (DNS rebinding) sends exactly this",
        decision="unknown host",
    )
    raise UnknownHost(
        f"This sandbox does not answer for the host {name!r}. Use http://127.0.0.1 or "
        "http://localhost (with the port). To reach it under another name, add the name to "
        "SANDBOX_ALLOWED_HOSTS in the data dir's config.py.",
        host=name,
    )


def _own_origin() -> str:
    return f"{request.scheme}://{request.host}".lower()


def _cross_site() -> str | None:
    """Return why the request comes from another origin, or None if it does not."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    trusted = {o.rstrip("/").lower() for o in current_app.config["SANDBOX_TRUSTED_ORIGINS"]}
    if origin is not None:
        origin = origin.rstrip("/").lower()
        if origin in trusted:
            return None
        if origin != _own_origin():
            # "null" is sent by sandboxed frames and by redirects across sites: not us either.
            return f"Origin: {origin}"
        return None
    # No Origin: an old browser, or a tool. Sec-Fetch-Site is the browser's own verdict.
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {fetch_site}"
    return None


def check_origin(open_to_other_sites: bool) -> None:
    """Refuse a state-changing request that a page on another origin sent."""
    if request.method in SAFE_METHODS or open_to_other_sites:
        return
    why = _cross_site()
    if why is None:
        return
    event(
        "sandbox",
        f"refused {request.method} from another origin ({why}): a page on another site "
        "tried to change this sandbox with the learner's browser (cross-site request forgery)",
        decision="cross-site",
    )
    raise CrossSiteRequest(
        f"This {request.method} came from another website ({why}), and the sandbox refuses "
        "requests that change something unless they come from its own pages: otherwise any "
        "page you visit could reset your sandbox or switch modules behind your back "
        "(cross-site request forgery). Send it from the sandbox's pages, or from curl, a "
        "notebook or Postman. To let a front end of your own call the API, add its origin "
        "to SANDBOX_TRUSTED_ORIGINS in the data dir's config.py.",
        origin=request.headers.get("Origin"),
    )


def check_operator() -> Response | None:
    """Ask for the operator token on the control plane, when one is set."""
    expected = current_app.config["SANDBOX_OPERATOR_TOKEN"]
    if not expected:
        return None  # listening on loopback: only this computer reaches the sandbox
    from_query = request.args.get(TOKEN_QUERY)
    if from_query is not None and request.method == "GET" and _same(from_query, expected):
        # Once, from the URL printed at start: keep it in a cookie and drop it from the URL,
        # so it does not stay in the address bar, the history or a shared screenshot.
        query = [(k, v) for k, v in request.args.items(multi=True) if k != TOKEN_QUERY]
        target = request.script_root + request.path
        if query:
            target += "?" + urlencode(query)
        response = redirect(target, 303)
        response.set_cookie(
            TOKEN_COOKIE,
            expected,
            httponly=True,
            samesite="Strict",
            secure=request.is_secure,
            path=request.script_root or "/",
        )
        return response
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "control_plane", False) or operator_ok():
        return None
    event("sandbox", "control plane refused: no valid operator token", decision="no token")
    raise Unauthorized(
        "This sandbox listens beyond this computer, so switches, reset, records and the SQL "
        "console need the operator token printed when it started. Open the printed URL "
        "(…/?token=…) in the browser once, send the header 'X-Sandbox-Token: <token>', or use "
        "Sandbox.connect(url, token='<token>') in a notebook.",
        headers={"WWW-Authenticate": 'Token realm="sandbox operator"'},
    )


def operator_ok() -> bool:
    """Return whether this request may use the control plane (always, on loopback)."""
    expected = current_app.config["SANDBOX_OPERATOR_TOKEN"]
    if not expected:
        return True
    sent = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""
    return _same(sent, expected)


def _same(sent: str, expected: str) -> bool:
    # compare_digest takes as long for a wrong first character as for a wrong last one, so
    # the time an answer takes does not tell an attacker how much of a guess was right.
    return hmac.compare_digest(sent.encode(), expected.encode())


def new_operator_token() -> str:
    """Return a fresh operator token (printed at start, kept in memory only)."""
    return secrets.token_urlsafe(24)


def guard() -> Response | None:
    """Check the host, then the origin, then the operator token."""
    check_host()
    # A module may answer any website on purpose (the HTTP playground, like httpbin);
    # the registry knows which module owns the route.
    owner = registry().owner()
    check_origin(owner is not None and owner.open_to_other_sites)
    if classroom.is_class_mode():
        # A class: each workspace asks for its own token; its student is its operator.
        return classroom.guard()
    return check_operator()


def init_app(app: Flask) -> None:
    """Run the guard before every request: after the record opens, before any module."""
    app.before_request(guard)
