"""The HTTP playground: httpbin's endpoints under /server/.

Every endpoint answers the way httpbin (postmanlabs/httpbin) does, so tutorials and
client test suites written against httpbin.org work with the base URL
``http://127.0.0.1:5000/server``. This file holds the request side (methods,
inspection, redirects, cookies); ``responses.py`` (status codes, caching, formats),
``auth.py`` and ``dynamic.py`` add their routes to the same blueprint.

Where httpbin would crash on bad input (a 500), the sandbox answers a 400 problem
that says what to send instead. Two things differ from httpbin on purpose, because
here the playground shares its origin with the rest of the sandbox (see "isolation"
and "the sandbox's own cookies" below): every answer is sandboxed in the browser, and
the playground never sets or deletes the sandbox's own cookies.
"""

from __future__ import annotations

import math
import re
from base64 import b64encode
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, current_app, json, redirect, request, url_for
from werkzeug.urls import iri_to_uri

from sandbox.errors import InvalidPath, InvalidQuery, SandboxError
from sandbox.guard import TOKEN_COOKIE
from sandbox.record import event
from sandbox.validation import read_json

# template_folder: the module's pages live in its own folder, with the rest of it.
bp = Blueprint("server", __name__, url_prefix="/server", template_folder="templates")

# Methods httpbin accepts on its "any method" routes. Flask adds HEAD and OPTIONS itself.
ANY_METHOD = ("GET", "POST", "PUT", "PATCH", "DELETE", "TRACE")

# Limits that keep one request from tying up the server. Like httpbin, asking for more
# is not an error: the answer is clamped to the limit (and the record says so).
MAX_BYTES = 100 * 1024
MAX_SECONDS = 10
MAX_LINES = 100
MAX_REDIRECTS = 100

# Headers added by proxies and hosting platforms, not by the client. httpbin hides them
# so that what you see is what you sent; add ?show_env=1 to see them anyway.
ENV_HEADERS = frozenset(
    h.lower()
    for h in (
        "X-Varnish", "X-Request-Start", "X-Heroku-Queue-Depth", "X-Real-Ip",
        "X-Forwarded-Proto", "X-Forwarded-Protocol", "X-Forwarded-Ssl",
        "X-Heroku-Queue-Wait-Time", "X-Forwarded-For", "X-Heroku-Dynos-In-Use",
        "X-Forwarded-Port", "X-Request-Id", "Via", "Total-Route-Time", "Connect-Time",
    )
)  # fmt: skip

# A header or cookie name is a "token" (RFC 9110 5.6.2): no spaces, quotes or separators.
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


# --- helpers shared by every file of this module ---


def json_response(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    """Return data as indented JSON with sorted keys, the way httpbin prints it."""
    return Response(
        json.dumps(data, indent=2, sort_keys=True) + "\n",
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def streamed(body: Iterable, **kwargs: Any) -> Response:
    """Return a response that sends its body piece by piece, as the generator yields it."""
    response = Response(body, **kwargs)
    # Whatever asks a response for its length (the request record does) would otherwise
    # make werkzeug collect the whole body into a list first, and the client would get
    # nothing until the end. With this off, werkzeug answers "length unknown" instead.
    response.implicit_sequence_conversion = False
    return response


# Which part of the request a bad value came from decides the problem's title: a path
# parameter (/bytes/<n>) or a query parameter (?chunk_size=), so the learner knows where to look.
Where = type[SandboxError]


def whole_number(
    raw: str, name: str, low: int, high: int | None = None, where: Where = InvalidPath
) -> int:
    """Return raw as an int from low to high, or raise a 400 problem saying what to send."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value < low or (high is not None and value > high):
        upper = f" to {high}" if high is not None else " or more"
        raise where(f"'{name}' must be a whole number from {low}{upper} (got {raw!r}).")
    return value


def query_value(name: str, default: str | None = None, any_case: bool = False) -> str | None:
    """Return a query parameter; with any_case, ?Seed= counts as ?seed=."""
    # Names in a query are case-sensitive, but httpbin reads a few in any case (seed,
    # chunk_size, redirect-to's url and status_code), and clients rely on it.
    if not any_case:
        return request.args.get(name, default)
    lowered = name.lower()
    return next((v for k, v in request.args.items() if k.lower() == lowered), default)


def query_number(
    name: str, default: int, low: int, high: int | None = None, any_case: bool = False
) -> int:
    """Return a whole-number query parameter, or its default when it is absent."""
    raw = query_value(name, any_case=any_case)
    return default if raw is None else whole_number(raw, name, low, high, InvalidQuery)


def seconds(raw: str, name: str, where: Where = InvalidPath) -> float:
    """Return a number of seconds clamped to MAX_SECONDS, like httpbin's own cap."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise where(
            f"'{name}' must be a number of seconds, 0 or more (got {raw!r}); "
            f"anything over {MAX_SECONDS} is cut to {MAX_SECONDS}."
        )
    if value > MAX_SECONDS:
        event("server", f"{name} {value:g} s clamped to the {MAX_SECONDS} s limit")
    return min(value, MAX_SECONDS)


def safe_header_value(value: str, what: str) -> str:
    """Refuse a header value that would break the response (a newline starts a new header)."""
    if not value.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidQuery(
            f"{what} must be printable ASCII without line breaks (got {value!r}): a line "
            "break would let a client inject its own headers (response splitting)."
        )
    return value


def _flatten(multi) -> dict[str, Any]:
    # ?a=1&a=2 shows as {"a": ["1", "2"]}, ?a=1 as {"a": "1"}: httpbin's "semiflatten".
    return {k: v[0] if len(v) == 1 else v for k, v in multi.to_dict(flat=False).items()}


def _text_or_data_url(raw: bytes, content_type: str) -> str:
    # JSON cannot carry raw bytes, so binary bodies are shown as a base64 data: URL.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"data:{content_type};base64,{b64encode(raw).decode('ascii')}"


def request_headers() -> dict[str, str]:
    """Return the request headers as received, minus those a proxy added (httpbin's rule)."""
    show_env = "show_env" in request.args
    return {k: v for k, v in request.headers.items() if show_env or k.lower() not in ENV_HEADERS}


def origin() -> str | None:
    """Return the client's address: the first proxy's view of it if there is one."""
    return request.headers.get("X-Forwarded-For", request.remote_addr)


def public_url() -> str:
    """Return the URL the client used, trusting a proxy's word on http vs https."""
    proto = request.headers.get("X-Forwarded-Proto") or request.headers.get("X-Forwarded-Protocol")
    if proto is None and request.headers.get("X-Forwarded-Ssl") == "on":
        proto = "https"
    if proto not in ("http", "https"):
        return request.url
    return urlunsplit((proto, *urlsplit(request.url)[1:]))


def echo(*keys: str, **extras: Any) -> dict[str, Any]:
    """Describe the request like httpbin's get_dict: only the keys asked for, sorted."""
    # A form or multipart body is parsed into form/files, so httpbin shows no raw data.
    is_form = request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
    raw = b"" if is_form else request.get_data()
    builders = {
        "args": lambda: _flatten(request.args),
        "data": lambda: _text_or_data_url(raw, "application/octet-stream"),
        "files": lambda: {
            k: [_file(f) for f in fs] if len(fs) > 1 else _file(fs[0])
            for k, fs in request.files.to_dict(flat=False).items()
        },
        "form": lambda: _flatten(request.form),
        "headers": request_headers,
        "json": lambda: _json_or_none(raw),
        "method": lambda: request.method,
        "origin": origin,
        "url": public_url,
    }
    out = {key: builders[key]() for key in keys}
    out.update(extras)
    return dict(sorted(out.items()))


def _file(storage) -> str:
    return _text_or_data_url(storage.read(), storage.content_type or "application/octet-stream")


def _json_or_none(raw: bytes) -> Any:
    # httpbin parses the body whatever its Content-Type says; not JSON means null.
    try:
        return read_json(raw)  # the JSON reader every route shares: depth-limited
    except (UnicodeDecodeError, ValueError):
        return None


# --- isolation: what a URL puts in an answer never runs as the sandbox ---
#
# Several endpoints answer with what the URL says: /response-headers?Content-Type=text/html
# &x=<script>...</script>, /base64/<anything>, /anything. On httpbin.org that is harmless:
# httpbin has a domain of its own, so a script smuggled into an answer runs as httpbin.org,
# an origin that holds nobody's cookies. Here the playground shares its origin with the
# rest of the sandbox (your login, your notes, the SQL console), so every playground answer
# tells the browser to treat it as coming from nowhere:
#
#   Content-Security-Policy: sandbox   a unique, opaque origin: no scripts, no cookies, no
#                                      requests as the sandbox, no forms, no pop-ups
#   X-Content-Type-Options: nosniff    trust the Content-Type: never guess that a text/plain
#                                      or JSON answer "looks like HTML"
#
# A browser enforces every Content-Security-Policy header it receives, and each one can only
# take permissions away. So a policy that /response-headers adds sits beside this one and can
# never loosen it; the answer itself stays exactly what httpbin would send.

SANDBOX_POLICY = "sandbox"
# The one page that needs more: httpbin's sample form must be able to submit. Its HTML is
# fixed (nothing from the URL), and it still gets no scripts and no cookies.
POLICY_EXCEPTIONS = {"server.forms_post": "sandbox allow-forms"}


def _in_playground() -> bool:
    # By path, not by route: a 404 or 405 under /server/ matched no route, and is still
    # an answer the playground's origin serves with what the URL said.
    return request.path == bp.url_prefix or request.path.startswith(f"{bp.url_prefix}/")


@bp.after_app_request
def isolate(response: Response) -> Response:
    """Sandbox every answer under /server/ in the browser, whatever the route put in it."""
    if not _in_playground():
        return response
    policy = POLICY_EXCEPTIONS.get(request.endpoint or "", SANDBOX_POLICY)
    response.headers.add("Content-Security-Policy", policy)  # add: beside any other policy
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.after_request
def allow_cross_origin(response: Response) -> Response:
    """Let pages on other origins read these answers, like httpbin (but never with cookies)."""
    # httpbin echoes the Origin and allows credentials; "*" without credentials is the safe
    # half of that: a page elsewhere can call the playground but never reads your cookies.
    response.headers.setdefault("Access-Control-Allow-Origin", "*")
    if request.method == "OPTIONS":  # a CORS preflight: the browser asks before it sends
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, PATCH, OPTIONS"
        response.headers["Access-Control-Max-Age"] = "3600"
        asked = request.headers.get("Access-Control-Request-Headers")
        if asked:
            response.headers["Access-Control-Allow-Headers"] = asked
    return response


# --- methods: what each HTTP method carries ---

BODY_KEYS = ("args", "data", "files", "form", "headers", "json", "origin", "url")


@bp.get("/get")
def get() -> Response:
    """Echo the query, headers, origin and URL of a GET (a GET has no body)."""
    return json_response(echo("args", "headers", "origin", "url"))


@bp.post("/post")
def post() -> Response:
    """Echo a POST: query, raw data, form fields, files, parsed JSON and headers."""
    return json_response(echo(*BODY_KEYS))


@bp.put("/put")
def put() -> Response:
    """Echo a PUT, body included."""
    return json_response(echo(*BODY_KEYS))


@bp.patch("/patch")
def patch() -> Response:
    """Echo a PATCH, body included."""
    return json_response(echo(*BODY_KEYS))


@bp.delete("/delete")
def delete() -> Response:
    """Echo a DELETE, body included (a DELETE may carry one, though few do)."""
    return json_response(echo(*BODY_KEYS))


@bp.route("/anything", methods=ANY_METHOD)
@bp.route("/anything/<path:anything>", methods=ANY_METHOD)
def anything(anything: str | None = None) -> Response:
    """Echo any request, with any method and any path below /anything."""
    return json_response(echo(*BODY_KEYS, "method"))


# --- inspection: what the server learns about the client ---


@bp.get("/headers")
def headers() -> Response:
    """Echo the request headers."""
    return json_response({"headers": request_headers()})


@bp.get("/ip")
def ip() -> Response:
    """Echo the client's IP address."""
    return json_response({"origin": origin()})


@bp.get("/user-agent")
def user_agent() -> Response:
    """Echo the User-Agent header: the name a client gives itself."""
    return json_response({"user-agent": request.headers.get("User-Agent")})


# --- redirects: the server says "look over there" and the client goes ---
#
# Every Location is built with url_for, never by pasting "/server/...": url_for knows
# where the app is mounted, so the chain still works behind a proxy that serves the
# sandbox under a prefix such as /user/x/proxy/5000/.


def _hops(raw: str) -> int:
    return whole_number(raw, "n (number of redirects)", 1, MAX_REDIRECTS)


def _next_hop(kind: str, n: int, external: bool, bare: bool = False) -> Response:
    if n == 1:
        target = url_for("server.get", _external=external)
        event("server", f"redirect 1 -> {target}")
    else:
        target = url_for(f"server.{kind}", n=n - 1, _external=external)
        event("server", f"redirect {n} -> {n - 1}")
    if bare:  # an empty body; Flask's redirect() adds a small "Redirecting..." page
        return Response("", status=302, headers={"Location": target})
    return redirect(target, 302)


@bp.get("/redirect/<n>")
def redirect_n(n: str) -> Response:
    """Redirect n times (relative Locations; ?absolute=true for absolute ones), then to /get."""
    absolute = request.args.get("absolute", "false").lower() == "true"
    kind = "absolute_redirect" if absolute else "relative_redirect"
    return _next_hop(kind, _hops(n), absolute)


@bp.get("/relative-redirect/<n>")
def relative_redirect(n: str) -> Response:
    """Redirect n times with relative Locations (/server/...), resolved by the client."""
    return _next_hop("relative_redirect", _hops(n), external=False, bare=True)  # as httpbin


@bp.get("/absolute-redirect/<n>")
def absolute_redirect(n: str) -> Response:
    """Redirect n times with absolute Locations (http://host/server/...)."""
    return _next_hop("absolute_redirect", _hops(n), external=True)


@bp.route("/redirect-to", methods=ANY_METHOD)
def redirect_to() -> Response:
    """Redirect to ?url=..., with ?status_code= from 300 to 399 (302 by default)."""
    url = query_value("url", any_case=True)
    if not url:
        raise InvalidQuery("Send the target as ?url=..., e.g. /server/redirect-to?url=/server/get.")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidQuery(
            "url must not contain control characters: a line break in a Location header "
            "would let a client inject headers of its own (response splitting)."
        )
    try:
        location = iri_to_uri(url)  # headers are ASCII: é becomes %C3%A9
        scheme = urlsplit(location).scheme.lower()
    except ValueError:
        raise InvalidQuery(f"url {url!r} is not a valid URL.") from None
    # An open redirect to javascript: or data: is how a trusted site runs someone else's
    # script; only send clients to web pages.
    if scheme not in ("", "http", "https"):
        raise InvalidQuery(f"url must be an http(s) URL or a path; {scheme}: URLs are refused.")
    code = query_number("status_code", 302, 0, any_case=True)
    if not 300 <= code <= 399:  # httpbin's rule: only a redirect code is a redirect
        event("server", f"redirect-to: status_code {code} is not a redirect (3xx), sent 302")
        code = 302
    event("server", f"redirect-to: {code} -> {url}")
    response = Response("", status=code)
    response.headers["Location"] = location
    return response


# --- cookies: the server asks the client to remember something ---

ENV_COOKIES = (
    "_gauges_unique", "_gauges_unique_year", "_gauges_unique_month", "_gauges_unique_day",
    "_gauges_unique_hour", "__utmz", "__utma", "__utmb",
)  # fmt: skip


# --- the sandbox's own cookies: the playground sets any cookie but these ---
#
# On httpbin.org, /cookies/set can only touch httpbin's cookies, which mean nothing. Here
# the playground shares its origin with the sandbox, so a cookie it sets is one the whole
# sandbox receives. Any website could then send you to
#
#     http://127.0.0.1:5000/server/cookies/set?session=<the attacker's own session>
#
# and your browser would keep the attacker's session: you would be logged in as them
# without noticing, and the notes you write next land in their account (login CSRF).
# Deleting works the other way round: a link logs you out. So every way the playground has
# to set or delete a cookie (/cookies/set, /cookies/set/<name>/<value>, /cookies/delete,
# Set-Cookie and Clear-Site-Data through /response-headers) checks the name here first,
# and refuses the sandbox's own with a 403 problem.

# A cookie whose name starts with __Host- or __Secure- is still the same cookie to a server
# configured with that full name; compare names without these prefixes.
COOKIE_PREFIXES = ("__host-", "__secure-")


class SandboxCookie(SandboxError):
    """The playground was asked to set or delete one of the sandbox's own cookies."""

    status = 403
    title = "Cookie belongs to the sandbox"


def sandbox_cookie_names() -> set[str]:
    """Return the names of the cookies the sandbox itself relies on."""
    config = current_app.config
    return {
        config["SESSION_COOKIE_NAME"],  # Flask's session: who is logged in, the CSRF token
        config.get("REMEMBER_COOKIE_NAME", "remember_token"),  # flask-login's "remember me"
        TOKEN_COOKIE,  # the operator token, kept once a browser opened ?token=...
    }


def _bare(name: str) -> str:
    # Browsers keep cookie names as sent, but a name that differs only in case or by a
    # prefix is too close to call: compare lowercase names without prefixes.
    name = name.strip().lower()
    for prefix in COOKIE_PREFIXES:
        name = name.removeprefix(prefix)
    return name


def cookie_name(name: str, where: Where, action: str) -> str:
    """Return a cookie name the playground may set or delete, or raise a problem saying why not."""
    if not TOKEN.fullmatch(name):
        raise where(
            f"{name!r} cannot be a cookie name: use letters, digits and - _ . only "
            "(no spaces, '=', ';' or quotes)."
        )
    if _bare(name) in {_bare(n) for n in sandbox_cookie_names()}:
        harm = (
            "log you in as someone else without your noticing (login CSRF): what you write "
            "next would land in their account"
            if action == "set"
            else "log you out, or drop your operator token"
        )
        event(
            "server",
            f"refused to {action} cookie '{name}': it is the sandbox's own cookie. If the "
            f"playground did, a link on any website could {harm}",
            decision="sandbox cookie",
        )
        raise SandboxCookie(
            f"The playground sets and deletes any cookie except the sandbox's own "
            f"({', '.join(sorted(sandbox_cookie_names()))}): it shares its origin with the "
            f"sandbox, so if it would {action} '{name}', a link on any website could {harm}. "
            "Pick another name, e.g. /server/cookies/set?flavour=oatmeal.",
            cookie=name,
        )
    return name


def cookie_path() -> str:
    """Return the path the playground's cookies live under: /server (with any mount prefix)."""
    # On httpbin.org a cookie set by /cookies/set, or by /response-headers without a Path,
    # belongs to the site's root. Here the playground's root is /server: its cookies stay
    # there, where /server/response-headers?Set-Cookie=name=; Max-Age=0 finds them (a
    # browser gives a cookie without Path the path of the page that set it), and the rest
    # of the sandbox never receives them.
    return url_for("server.index").rstrip("/")


def _to_cookie_list() -> Response:
    # The browser stores Set-Cookie from this 302 before it follows it, so the next
    # page already sends the cookie back.
    return redirect(url_for("server.cookies"), 302)


@bp.get("/cookies")
def cookies() -> Response:
    """Echo the cookies the client sent (the Cookie header, parsed)."""
    show_env = "show_env" in request.args
    sent = {k: v for k, v in request.cookies.items() if show_env or k not in ENV_COOKIES}
    return json_response({"cookies": sent})


@bp.get("/cookies/set")
def set_cookies() -> Response:
    """Set a cookie for each ?name=value, then redirect to /cookies."""
    names = [cookie_name(name, InvalidQuery, "set") for name in request.args]  # all, first
    response = _to_cookie_list()
    for name in names:
        response.set_cookie(name, request.args[name], path=cookie_path(), secure=request.is_secure)
        event("server", f"cookie '{name}' set")
    return response


@bp.get("/cookies/set/<name>/<value>")
def set_cookie(name: str, value: str) -> Response:
    """Set one cookie from the path, then redirect to /cookies."""
    response = _to_cookie_list()
    name = cookie_name(name, InvalidPath, "set")
    response.set_cookie(name, value, path=cookie_path(), secure=request.is_secure)
    event("server", f"cookie '{name}' set")
    return response


@bp.get("/cookies/delete")
def delete_cookies() -> Response:
    """Delete each cookie named in the query (?name), then redirect to /cookies."""
    names = [cookie_name(name, InvalidQuery, "delete") for name in request.args]
    response = _to_cookie_list()
    for name in names:
        # There is no "delete" in HTTP: the server sets the cookie again, already expired.
        response.delete_cookie(name, path=cookie_path())
        event("server", f"cookie '{name}' deleted (sent again with an expiry in the past)")
    return response


# The other endpoints live next door and hang off the same blueprint. Imported last, as
# Flask's docs show for large apps: they import bp and the helpers above from here.
from . import auth, dynamic, pages, responses  # noqa: E402, F401
