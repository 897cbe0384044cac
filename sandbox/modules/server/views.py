"""The HTTP playground: httpbin's endpoints under /server/.

Every endpoint answers the way httpbin (postmanlabs/httpbin) does, so tutorials and
client test suites written against httpbin.org work with the base URL
``http://127.0.0.1:5000/server``. This file holds the request side (methods,
inspection, redirects, cookies); ``responses.py`` (status codes, caching, formats),
``auth.py`` and ``dynamic.py`` add their routes to the same blueprint.

Where httpbin would crash on bad input (a 500), the sandbox answers a 400 problem
that says what to send instead.
"""

from __future__ import annotations

import math
import re
from base64 import b64encode
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Response, json, redirect, request, url_for
from werkzeug.urls import iri_to_uri

from sandbox.errors import InvalidBody
from sandbox.record import event
from sandbox.validation import read_json

bp = Blueprint("server", __name__, url_prefix="/server")

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
    """Return data as indented JSON, the way httpbin prints it."""
    return Response(
        json.dumps(data, indent=2) + "\n",
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


def whole_number(raw: str, name: str, low: int, high: int | None = None) -> int:
    """Return raw as an int from low to high, or raise a 400 problem saying what to send."""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value < low or (high is not None and value > high):
        upper = f" to {high}" if high is not None else " or more"
        raise InvalidBody(f"'{name}' must be a whole number from {low}{upper} (got {raw!r}).")
    return value


def query_number(name: str, default: int, low: int, high: int | None = None) -> int:
    """Return a whole-number query parameter, or its default when it is absent."""
    raw = request.args.get(name)
    return default if raw is None else whole_number(raw, name, low, high)


def seconds(raw: str, name: str) -> float:
    """Return a number of seconds clamped to MAX_SECONDS, like httpbin's own cap."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise InvalidBody(
            f"'{name}' must be a number of seconds, 0 or more (got {raw!r}); "
            f"anything over {MAX_SECONDS} is cut to {MAX_SECONDS}."
        )
    if value > MAX_SECONDS:
        event("server", f"{name} {value:g} s clamped to the {MAX_SECONDS} s limit")
    return min(value, MAX_SECONDS)


def safe_header_value(value: str, what: str) -> str:
    """Refuse a header value that would break the response (a newline starts a new header)."""
    if not value.isascii() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidBody(
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


def _next_hop(kind: str, n: int, external: bool) -> Response:
    if n == 1:
        target = url_for("server.get", _external=external)
        event("server", f"redirect 1 -> {target}")
    else:
        target = url_for(f"server.{kind}", n=n - 1, _external=external)
        event("server", f"redirect {n} -> {n - 1}")
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
    return _next_hop("relative_redirect", _hops(n), external=False)


@bp.get("/absolute-redirect/<n>")
def absolute_redirect(n: str) -> Response:
    """Redirect n times with absolute Locations (http://host/server/...)."""
    return _next_hop("absolute_redirect", _hops(n), external=True)


@bp.route("/redirect-to", methods=ANY_METHOD)
def redirect_to() -> Response:
    """Redirect to ?url=..., with ?status_code= from 300 to 399 (302 by default)."""
    url = request.args.get("url")
    if not url:
        raise InvalidBody("Send the target as ?url=..., e.g. /server/redirect-to?url=/server/get.")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidBody(
            "url must not contain control characters: a line break in a Location header "
            "would let a client inject headers of its own (response splitting)."
        )
    try:
        location = iri_to_uri(url)  # headers are ASCII: é becomes %C3%A9
        scheme = urlsplit(location).scheme.lower()
    except ValueError:
        raise InvalidBody(f"url {url!r} is not a valid URL.") from None
    # An open redirect to javascript: or data: is how a trusted site runs someone else's
    # script; only send clients to web pages.
    if scheme not in ("", "http", "https"):
        raise InvalidBody(f"url must be an http(s) URL or a path; {scheme}: URLs are refused.")
    code = query_number("status_code", 302, 300, 399)
    event("server", f"redirect-to: {code} -> {url}")
    response = Response("", status=code)
    response.headers["Location"] = location
    return response


# --- cookies: the server asks the client to remember something ---

ENV_COOKIES = (
    "_gauges_unique", "_gauges_unique_year", "_gauges_unique_month", "_gauges_unique_day",
    "_gauges_unique_hour", "__utmz", "__utma", "__utmb",
)  # fmt: skip


def _cookie_name(name: str) -> str:
    if not TOKEN.fullmatch(name):
        raise InvalidBody(
            f"{name!r} cannot be a cookie name: use letters, digits and - _ . only "
            "(no spaces, '=', ';' or quotes)."
        )
    return name


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
    response = _to_cookie_list()
    for name, value in request.args.items():
        response.set_cookie(_cookie_name(name), value, secure=request.is_secure)
        event("server", f"cookie '{name}' set")
    return response


@bp.get("/cookies/set/<name>/<value>")
def set_cookie(name: str, value: str) -> Response:
    """Set one cookie from the path, then redirect to /cookies."""
    response = _to_cookie_list()
    response.set_cookie(_cookie_name(name), value, secure=request.is_secure)
    event("server", f"cookie '{name}' set")
    return response


@bp.get("/cookies/delete")
def delete_cookies() -> Response:
    """Delete each cookie named in the query (?name), then redirect to /cookies."""
    response = _to_cookie_list()
    for name in request.args:
        # There is no "delete" in HTTP: the server sets the cookie again, already expired.
        response.delete_cookie(_cookie_name(name))
        event("server", f"cookie '{name}' deleted (sent again with an expiry in the past)")
    return response


# The other endpoints live next door and hang off the same blueprint. Imported last, as
# Flask's docs show for large apps: they import bp and the helpers above from here.
from . import auth, dynamic, responses  # noqa: E402, F401
