"""The playground against httpbin itself: the same requests, the answers compared with httpbin's.

httpbin (the package on PyPI, psf/httpbin) answered every case and flow below once, over
real HTTP, and tests/httpbin_record.py wrote what it answered to
tests/fixtures/httpbin/answers.json. Here the sandbox answers the same requests over real
HTTP, and status, the headers a client reads and the body must match the recording once
what has to differ is normalised (NORMALISED below): the base URL (and the /server prefix),
the port in Host, fresh ids, nonces and dates. Where the sandbox answers differently on
purpose, the case names the reason, from the table DELIBERATE below, and says what the
sandbox answers instead; a reason no case uses is an error too. Every case and flow has a
recording (a new one fails with the command that records it), and every recording a case.

A flow (several requests with one cookie jar: cookies, Digest logins, stale nonces) is
compared step by step, every answer in turn (a challenge, a redirect, the last one). The
sandbox's side runs live, its client answering the sandbox's own nonces; httpbin's nonces
are normalised away in the recording, like every fresh value.

Why a recording and not httpbin itself: httpbin cannot be installed by README's set-up. On
Python before 3.12 its metadata pins greenlet<3 (for the gevent server it does not use
here), which Playwright's greenlet>=3 contradicts, so only
``python -m pip install --no-deps httpbin==0.10.4`` installs it. The suite runs without it;
only recording needs it. After adding or changing a case or a flow, or the normalisation,
record again (see tests/httpbin_record.py):

    python -m pip install --no-deps httpbin==0.10.4
    python tests/httpbin_record.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from helpers import LiveServer, serve
from requests.auth import HTTPDigestAuth
from werkzeug.http import parse_dict_header

from sandbox import create_app

# The httpbin the recording is of; tests/httpbin_record.py refuses to record another one.
HTTPBIN_VERSION = "0.10.4"
RECORDING = Path(__file__).resolve().parent / "fixtures" / "httpbin" / "answers.json"
RECORD = (
    f"python -m pip install --no-deps httpbin=={HTTPBIN_VERSION} && python tests/httpbin_record.py"
)

# What the sandbox does differently on purpose, and why. A case that differs names one.
DELIBERATE = {
    "bad-input": "httpbin answers bad input with a 500, a bare 404 page (its <int:n> route "
    "does not match), or a 200/400 with a line of text; the sandbox answers a 400 problem "
    "(application/problem+json) that names the part of the request that is wrong and says "
    "what to send instead.",
    "not-http": "httpbin sends any number as the status (/status/600, /status/99): a status "
    "line clients cannot parse. The sandbox sends only codes from 100 to 599; others are a 400.",
    "javascript-redirect": "/redirect-to?url=javascript:... (or data:) is how a trusted site "
    "runs someone else's script; the sandbox sends clients to http(s) URLs and paths only.",
    "sandbox-cookie": "The playground shares its origin with the sandbox, so it refuses to "
    "set or delete the sandbox's own cookies (session, remember_token, sandbox_operator): a "
    "link could otherwise log the learner in as the attacker (login CSRF). httpbin.org has "
    "a domain of its own and no such cookies.",
    "time-bound": "Every wait is capped at 10 s in all (httpbin caps /delay, but not drip's "
    "delay or range's duration), so no request ties up one of the sandbox's few threads.",
    "size-bound": "Sizes are capped at 100 KB (drip: httpbin allows 10 MB), so one request "
    "cannot hold a thread or memory for long.",
    "one-content-type": "Content-Type is a single header (RFC 9110 8.3): asked for one, "
    "/response-headers replaces the JSON type instead of adding a second Content-Type, "
    "which clients join into 'application/json, text/html'.",
    "range-rfc": "A Range whose last byte is past the end means 'to the end' (RFC 9110 "
    "14.1.2); httpbin answers 416 there. And a 416 says why in a problem body (httpbin's is "
    "empty).",
    "quoted-etag": "An ETag is a quoted string (RFC 9110 8.8.3); httpbin sends it bare. "
    "Clients send back what they got, so conditional requests work the same.",
    "bearer-rfc": "An auth scheme is case-insensitive (RFC 9110 11.1), and an empty token is "
    "no token: 'bearer x' is accepted, 'Bearer ' is a 401 (httpbin: the reverse).",
    "digest-strict": "The sandbox checks what RFC 7616 says a server checks: its own "
    "(signed) nonce, the opaque value, the URI, nc, and the algorithm the URL asks for; "
    "httpbin checks only the hash (an MD5 answer passes on /digest-auth/.../SHA-256). "
    "Unknown qop or algorithm values are a 400 problem (httpbin silently uses MD5, or "
    "RFC 2069 digest without qop), and an algorithm is read in any case (sha-256 is "
    "SHA-256; httpbin falls back to MD5).",
    "base64-padding": "URLs usually drop base64's '=' padding; the sandbox adds it back and "
    "decodes (httpbin answers 'Incorrect Base64 data').",
    "cors": "Access-Control-Allow-Origin is '*' without credentials: any page may read a "
    "playground answer, but never with the learner's cookies. httpbin echoes the Origin and "
    "allows credentials.",
    "isolation": "Every answer carries Content-Security-Policy: sandbox and "
    "X-Content-Type-Options: nosniff, so markup a URL puts in an answer cannot run as the "
    "sandbox (httpbin.org is its own origin; the playground is not).",
    "own-pages": "The root page and the sample form are the sandbox's own: the root lists "
    "every endpoint from the routes themselves, in the sandbox's layout.",
    "own-samples": "Sample content the sandbox made itself: the images (a sandcastle, not "
    "httpbin's photos), the UTF-8 demo page (shorter than Markus Kuhn's file), and 402's "
    "body, starred.",
    "typed-body": "A body without a Content-Type makes the client guess; the sandbox labels "
    "the teapot's text/plain (httpbin replaced all its headers, Content-Type included).",
    "httpbin-crash": "httpbin answers 500 where it has a bug: Digest auth on a URL with a "
    "query (?require-cookie=1) adds bytes to a str while checking the hash. The sandbox "
    "answers what httpbin means to.",
    "problem-errors": "Errors Flask raises itself (405 for a method a route does not take) "
    "are problems in the sandbox, as every error is; httpbin sends werkzeug's HTML page.",
    "record-trace": "The sandbox records every request; its answers carry X-Sandbox-Trace.",
    "no-static": "httpbin's /static/ serves its own site assets (a favicon); the sandbox's "
    "assets live under /static/ of the sandbox itself.",
}


# Made equal before comparing (not differences in behaviour), each with its reason.
NORMALISED = {
    "base URL": "the servers listen on different ports, and the playground sits under /server",
    "Host": "the port differs",
    "fresh values": "uuid, Digest nonce and opaque, /cache's ETag and Last-Modified change on "
    "every request",
    "Content-Type of an empty body": "there is no body to describe: httpbin sends text/html "
    "on some and no Content-Type on others (headers it replaced)",
    "Content-Length": "follows from the body, which is compared itself",
    "JSON key order": "JSON objects are unordered (RFC 8259), so bodies are compared parsed; "
    "both sort keys anyway, except in /stream's lines",
    "multipart boundary": "requests picks a random one for each request",
    "cookie Path": "the playground's cookies live under /server (Path=/server), as httpbin's "
    "live under its root (Path=/); see cookie_path() in sandbox/modules/server/views.py",
    "Content-Encoding": "bodies are compared decoded (requests undoes gzip, deflate and br): "
    "/brotli sends brotli's uncompressed block form, as the standard library has no brotli "
    "compressor, so its bytes on the wire differ",
    "the client's defaults": "echoed User-Agent and Accept-Encoding, when they are requests' "
    "defaults: those name the requests version and the decoders installed (brotli, zstd) "
    "where the recording was made, not where the test runs",
}

# The headers a client reads; compared whenever either side sends one.
COMPARED_HEADERS = (
    "Content-Type",
    "Location",
    "Content-Encoding",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Cache-Control",
    "Last-Modified",
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "x-more-info",
    "Access-Control-Allow-Methods",
    "Access-Control-Max-Age",
    "Access-Control-Allow-Headers",
    "Set-Cookie",
)


@dataclass(frozen=True)
class Case:
    """One request, sent to both; differs names a DELIBERATE reason and what differs."""

    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    differs: str | None = None
    aspects: tuple[str, ...] = ()  # "status", "body", "headers", or one header's name
    ours: int | None = None  # the sandbox's status, when it differs

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"[:90]

    @property
    def key(self) -> str:
        """Name the request whole, arguments included: its recording is filed under this."""
        if not self.kwargs:
            return f"{self.method} {self.path}"
        return f"{self.method} {self.path} {json.dumps(_plain(self.kwargs), sort_keys=True)}"


def _plain(value: Any) -> Any:
    """Return a case's arguments as JSON can hold them: bytes as their repr, tuples as lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value) if isinstance(value, bytes) else value


def case(method: str, path: str, **kwargs: Any) -> Case:
    return Case(method, path, kwargs)


def differs(reason: str, *aspects: str, ours: int | None = None) -> Callable[[Case], Case]:
    def mark(c: Case) -> Case:
        return Case(c.method, c.path, c.kwargs, reason, aspects, ours)

    return mark


BAD = differs("bad-input", "status", "body", "Content-Type", ours=400)

CASES = [
    # methods
    case("GET", "/get?a=1&a=2&b=&c=%C3%A9"),
    case("GET", "/get", headers={"X-Forwarded-For": "10.1.2.3", "Via": "1.1 proxy"}),
    case("GET", "/get?show_env=1", headers={"X-Forwarded-For": "10.1.2.3"}),
    case("GET", "/get", headers={"X-Forwarded-Proto": "https"}),
    case("POST", "/post?q=1", data={"a": "1", "b": ["2", "3"]}),
    case("POST", "/post", json={"n": 1, "nested": {"list": [1, "two", None]}}),
    case("POST", "/post", data=b"\x00\xff\xfe binary"),
    case("POST", "/post", data="not json", headers={"Content-Type": "application/json"}),
    case("POST", "/post", files={"f": ("a.txt", b"hello", "text/plain")}, data={"x": "y"}),
    case("POST", "/post", files={"f": ("a.bin", b"\x89\x00", "application/octet-stream")}),
    case("PUT", "/put", data="raw text"),
    case("PATCH", "/patch", json=[1, 2, 3]),
    case("DELETE", "/delete"),
    differs("problem-errors", "body", "Content-Type")(case("GET", "/post")),
    case("GET", "/anything"),
    case("PUT", "/anything/a/b?c=d", data={"e": "f"}),
    case("TRACE", "/anything"),
    case("DELETE", "/anything", json={"gone": True}),
    case("PATCH", "/anything/x", files={"f": ("f.txt", b"a"), "g": ("g.txt", b"b")}),
    case("HEAD", "/get"),
    case("HEAD", "/status/418"),
    case("OPTIONS", "/status/418", headers={"Access-Control-Request-Method": "PUT"}),
    case("OPTIONS", "/get", headers={"Access-Control-Request-Headers": "X-Custom"}),
    # inspection
    case("GET", "/headers", headers={"X-Custom": "yes", "X-Request-Id": "hidden"}),
    case("GET", "/ip"),
    case("GET", "/ip", headers={"X-Forwarded-For": "203.0.113.9"}),
    case("GET", "/user-agent", headers={"User-Agent": "curl/8.0"}),
    # status codes
    *[case("GET", f"/status/{c}") for c in (200, 201, 204, 400, 404, 406, 500, 503)],
    *[case("GET", f"/status/{c}") for c in (301, 302, 303, 305, 307, 401, 407)],
    differs("typed-body", "Content-Type")(case("GET", "/status/418")),
    *[case(m, "/status/201") for m in ("POST", "PUT", "PATCH", "DELETE")],
    case("GET", "/status/200:1,500:0"),
    case("GET", "/status/304"),
    differs("own-samples", "body", "Content-Type")(case("GET", "/status/402")),
    BAD(case("GET", "/status/abc")),
    BAD(case("GET", "/status/200:x")),
    differs("not-http", "status", "body", "Content-Type", ours=400)(case("GET", "/status/600")),
    # redirects
    case("GET", "/redirect/1"),
    case("GET", "/redirect/3"),
    case("GET", "/redirect/3?absolute=true"),
    case("GET", "/redirect/2?absolute=TRUE"),
    case("GET", "/relative-redirect/1"),
    case("GET", "/relative-redirect/4"),
    case("GET", "/absolute-redirect/1"),
    case("GET", "/absolute-redirect/3"),
    case("GET", "/redirect-to?url=http://example.com/"),
    case("GET", "/redirect-to?url=/get&status_code=307"),
    case("GET", "/redirect-to?url=/get&status_code=200"),
    case("GET", "/redirect-to?URL=/get&Status_Code=301"),
    case("POST", "/redirect-to?url=/post&status_code=308", data={"a": "1"}),
    case("GET", "/redirect-to?url=https://example.com/caf%C3%A9"),
    case("GET", "/redirect-to?url=http://example.com/&status_code=303"),
    case("GET", "/redirect-to?url=//example.com/x"),
    differs("javascript-redirect", "status", "body", "Location", "Content-Type", ours=400)(
        case("GET", "/redirect-to?url=javascript:alert(1)")
    ),
    BAD(case("GET", "/redirect-to?url=/get&status_code=abc")),
    BAD(case("GET", "/redirect/0")),
    BAD(case("GET", "/redirect/abc")),
    # cookies
    case("GET", "/cookies", cookies={"a": "1", "b": "two"}),
    case("GET", "/cookies", cookies={"a": "1", "__utma": "tracking"}),
    case("GET", "/cookies?show_env=1", cookies={"a": "1", "__utma": "tracking"}),
    case("GET", "/cookies/set?a=1&b=2"),
    case("GET", "/cookies/set/flavour/oatmeal"),
    case("GET", "/cookies/delete?a&b"),
    case("GET", "/cookies/set"),
    case("GET", "/cookies/delete"),
    differs("sandbox-cookie", "status", "body", "Location", "Set-Cookie", "Content-Type", ours=403)(
        case("GET", "/cookies/set?session=stolen")
    ),
    # auth
    case("GET", "/basic-auth/user/passwd"),
    case("GET", "/basic-auth/user/passwd", auth=("user", "passwd")),
    case("GET", "/basic-auth/user/passwd", auth=("user", "wrong")),
    case("GET", "/hidden-basic-auth/user/passwd"),
    case("GET", "/hidden-basic-auth/user/passwd", auth=("user", "passwd")),
    case("GET", "/hidden-basic-auth/user/passwd", auth=("user", "nope")),
    case("GET", "/basic-auth/us%C3%A9r/p", auth=("usér", "p")),
    case("GET", "/bearer"),
    case("GET", "/bearer", headers={"Authorization": "Bearer abc.def"}),
    case("GET", "/bearer", headers={"Authorization": "Basic abc"}),
    differs("bearer-rfc", "status", "body", "Content-Type", "WWW-Authenticate", ours=200)(
        case("GET", "/bearer", headers={"Authorization": "bearer abc"})
    ),
    case("GET", "/digest-auth/auth/user/passwd"),
    case("GET", "/digest-auth/auth-int/user/passwd/SHA-256"),
    case("GET", "/digest-auth/auth/user/passwd/SHA-512/never"),
    case("GET", "/digest-auth/auth/user/passwd/MD5/3"),
    differs("digest-strict", "WWW-Authenticate")(
        case("GET", "/digest-auth/auth/user/passwd/sha-256")
    ),
    case("GET", "/digest-auth/auth/user/passwd", headers={"Authorization": "Basic dTpw"}),
    case("GET", "/digest-auth/auth/user/passwd/MD5/never?require-cookie=1"),
    differs(
        "digest-strict",
        "status",
        "body",
        "Content-Type",
        "WWW-Authenticate",
        "Set-Cookie",
        ours=400,
    )(case("GET", "/digest-auth/auth/user/passwd/SHA-1")),  # fmt: skip
    # caching
    case("GET", "/cache"),
    case("GET", "/cache", headers={"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"}),
    case("GET", "/cache", headers={"If-None-Match": "x"}),
    case("GET", "/cache/60"),
    case("GET", "/cache/0"),
    BAD(case("GET", "/cache/-1")),
    BAD(case("GET", "/cache/abc")),
    differs("quoted-etag", "ETag")(case("GET", "/etag/abc")),
    differs("quoted-etag", "ETag")(case("GET", "/etag/abc", headers={"If-None-Match": '"abc"'})),
    differs("quoted-etag", "ETag")(case("GET", "/etag/abc", headers={"If-None-Match": "*"})),
    differs("quoted-etag", "ETag")(case("GET", "/etag/abc", headers={"If-None-Match": '"x"'})),
    case("GET", "/etag/abc", headers={"If-Match": '"x"'}),
    case("GET", "/etag/abc", headers={"If-Match": '"x", "y"'}),
    differs("quoted-etag", "ETag")(case("GET", "/etag/abc", headers={"If-None-Match": 'W/"abc"'})),
    differs("quoted-etag", "ETag")(
        case("GET", "/etag/abc", headers={"If-None-Match": '"x", "abc"'})
    ),
    differs("quoted-etag", "ETag")(case("GET", "/etag/abc", headers={"If-Match": '"abc"'})),
    # response headers
    case("GET", "/response-headers?X-A=1&X-A=2&Server=me"),
    case("GET", "/response-headers"),
    case("GET", "/response-headers?X-Empty="),
    case("POST", "/response-headers?freeform=yes"),
    case("GET", "/response-headers?Set-Cookie=foo%3Dbar%3B%20Path%3D%2F"),
    case(
        "GET",
        "/response-headers?Set-Cookie=foo%3Ddeleted%3B%20Expires%3DThu,%2001%20Jan%201970%20"
        "00:00:00%20GMT",
    ),
    differs("one-content-type", "Content-Type", "body")(
        case("GET", "/response-headers?Content-Type=text/plain")
    ),
    # formats
    case("GET", "/html"),
    case("GET", "/xml"),
    case("GET", "/json"),
    case("GET", "/robots.txt"),
    case("GET", "/deny"),
    differs("own-samples", "body")(case("GET", "/encoding/utf8")),
    case("GET", "/gzip"),
    case("GET", "/deflate"),
    case("GET", "/brotli", headers={"Accept-Encoding": "br"}),
    case("GET", "/base64/SFRUUEJJTiBpcyBhd2Vzb21l"),
    case("GET", "/base64/w6kgLSDinJM="),
    differs("base64-padding", "body")(case("GET", "/base64/aGVsbG8")),
    BAD(case("GET", "/base64/!!!!")),
    *[
        differs("own-samples", "body")(case("GET", f"/image/{kind}"))
        for kind in ("png", "jpeg", "webp", "svg")
    ],
    *[
        differs("own-samples", "body")(case("GET", "/image", headers={"Accept": accept}))
        for accept in ("image/webp", "image/svg+xml", "image/jpeg", "image/png", "image/*")
    ],
    case("GET", "/image", headers={"Accept": "text/plain"}),
    differs("own-pages", "body")(case("GET", "/")),
    differs("own-pages", "body")(case("GET", "/forms/post")),
    differs("no-static", "status", "body", "headers", ours=404)(case("GET", "/static/favicon.ico")),
    # dynamic data
    case("GET", "/uuid"),
    case("GET", "/bytes/64?seed=7"),
    case("GET", "/bytes/0"),
    case("GET", "/stream-bytes/100?seed=3&chunk_size=7"),
    case("GET", "/stream-bytes/10?seed=3&chunk_size=0"),
    case("GET", "/stream/3"),
    case("GET", "/stream/0"),
    case("GET", "/stream/150"),
    case("GET", "/bytes/200000?seed=2"),
    case("GET", "/stream-bytes/200000?seed=2"),
    case("GET", "/delay/0"),
    case("GET", "/drip?numbytes=4&duration=0&code=404"),
    case("GET", "/range/30"),
    case("GET", "/range/30", headers={"Range": "bytes=0-9"}),
    case("GET", "/range/30", headers={"Range": "bytes=25-"}),
    case("GET", "/range/30", headers={"Range": "bytes=-4"}),
    case("GET", "/range/30", headers={"Range": "bytes=0-29"}),
    case("GET", "/range/30", headers={"Range": "bytes=abc"}),
    case("GET", "/range/30", headers={"Range": "items=0-1"}),
    case("GET", "/range/30?chunk_size=4", headers={"Range": "bytes=3-17"}),
    differs("range-rfc", "body", "Content-Type")(
        case("GET", "/range/30", headers={"Range": "bytes=5-1"})
    ),
    differs("range-rfc", "body", "Content-Type")(
        case("GET", "/range/30", headers={"Range": "bytes=30-"})
    ),
    differs(
        "range-rfc", "status", "body", "Content-Type", "Content-Range", "Content-Length", ours=206
    )(case("GET", "/range/30", headers={"Range": "bytes=20-40"})),  # fmt: skip
    differs("bad-input", "body", "Content-Type")(case("GET", "/range/0")),
    differs("bad-input", "body", "Content-Type")(case("GET", "/range/102401")),
    case("GET", "/drip?numbytes=5&duration=0.2&code=201"),
    case("GET", "/drip?numbytes=3&duration=0&delay=0.1"),
    case("GET", "/bytes/8?SEED=5"),
    case("GET", "/stream-bytes/9?Seed=5&CHUNK_SIZE=2"),
    differs("bad-input", "body", "Content-Type")(case("GET", "/drip?numbytes=0")),
    differs("size-bound", "body", "Content-Length")(
        case("GET", "/drip?numbytes=200000&duration=0")
    ),
    case("GET", "/links/4"),
    case("GET", "/links/4/2"),
    case("GET", "/links/300/0"),
    case("GET", "/links/5/10"),
    case("GET", "/links/0"),
    case("GET", "/links/0/0"),
    case("POST", "/delay/0.1", data={"a": "b"}),
    BAD(case("GET", "/bytes/abc")),
]


# --- one server's answers, made comparable ---

PREFIX = "/server"  # where the playground sits in the sandbox; httpbin sits at its root
FRESH_KEYS = {"uuid"}
UUID = re.compile(r"[0-9a-f]{32}")
BOUNDARY = re.compile(r"boundary=[0-9a-f]+")
# Values requests picks from what is installed where it runs ("the client's defaults").
CLIENT_DEFAULTS = {
    name.lower(): value
    for name, value in requests.utils.default_headers().items()
    if name in ("User-Agent", "Accept-Encoding")
}
# A body longer than this (in JSON) is recorded by its SHA-256, to keep the recording short
# enough to read: equal hashes are equal bodies, and "starts" shows what it looked like.
LARGE = 4000


@dataclass
class Side:
    """One server that answers the cases: where it listens, and how its answers are normalised."""

    url: str  # http://127.0.0.1:<port>
    prefix: str = ""  # where the httpbin-compatible routes start

    @property
    def base(self) -> str:
        return self.url + self.prefix

    def send(self, c: Case) -> requests.Response:
        """Send a case's request, without following redirects."""
        kwargs = {"allow_redirects": False, "timeout": 15, **c.kwargs}
        return requests.request(c.method, self.base + c.path, **kwargs)

    def answer(self, response: requests.Response) -> dict[str, Any]:
        """Return what is compared of an answer: status, the headers a client reads, body."""
        headers = {}
        for name in sorted(compared_headers(response)):
            value = self.header(response, name)
            if value is not None:
                headers[name] = value
        found = {"status": response.status_code, "headers": headers, "body": self.body(response)}
        return json.loads(json.dumps(found))  # exactly what the recording can hold

    def text(self, text: str) -> str:
        """Normalise what depends on where the server listens: base URL, prefix, port."""
        text = text.replace(self.base, "BASE")
        if self.prefix:
            text = text.replace(self.prefix + "/", "/")
            text = re.sub(rf"Path={self.prefix}\b", "Path=/", text)
        text = BOUNDARY.sub("boundary=B", text)
        return text.replace(self.url.removeprefix("http://"), "HOST")

    def body(self, response: requests.Response) -> dict[str, Any]:
        """Return the body by kind: parsed JSON, JSON lines, normalised text, or base64."""
        data = response.content
        try:
            text = self.text(data.decode("utf-8"))
        except UnicodeDecodeError:
            return stored("base64", base64.b64encode(data).decode("ascii"))
        parsed = _json(text)
        if parsed is not None:
            return stored("json", parsed)
        lines = [_json(line) for line in text.splitlines()]
        if lines and None not in lines:  # /stream: one JSON document a line
            return stored("lines", lines)
        return stored("text", text)

    def header(self, response: requests.Response, name: str) -> Any:
        """Return a header's values, ready to compare (None if absent)."""
        if name == "Content-Type" and not response.content:
            return "(empty body)"
        values = response.raw.headers.getlist(name)
        if not values:
            return None
        if name in ("Last-Modified",):
            return "DATE"
        if name == "ETag" and UUID.fullmatch(values[0].strip('"')):
            return "FRESH"
        if name == "WWW-Authenticate" and values[0].startswith("Digest"):
            return [_challenge(v) for v in values]
        if name == "Set-Cookie" and "last_nonce=" in ",".join(values):
            values = [re.sub(r"last_nonce=[^;]*", "last_nonce=N", v) for v in values]
        return [self.text(v) for v in values]


def compared_headers(response: requests.Response) -> set[str]:
    """Return the headers to compare: a client's, and those /response-headers was asked for."""
    names = set(COMPARED_HEADERS)
    url = urlsplit(response.request.url)
    if url.path.endswith("/response-headers"):
        names |= {k for k, _ in parse_qsl(url.query, keep_blank_values=True)}
    return names


def stored(kind: str, value: Any) -> dict[str, Any]:
    """Return a body as recorded: {kind: value}, or its SHA-256 if it is LARGE."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    if len(text) <= LARGE:
        return {kind: value}
    digest = hashlib.sha256(text.encode()).hexdigest()
    return {f"{kind} sha256": digest, "length": len(text), "starts": text[:100]}


def _fresh(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _fresh_value(k, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


def _fresh_value(key: str, value: Any) -> Any:
    if key in FRESH_KEYS:
        return "FRESH"
    if key.lower() in CLIENT_DEFAULTS and CLIENT_DEFAULTS[key.lower()] == value:
        return "CLIENT'S DEFAULT"
    return _fresh(value)


def _json(text: str) -> Any:
    try:
        return _fresh(json.loads(text))
    except ValueError:
        return None


def _challenge(value: str) -> dict[str, str]:
    scheme, _, params = value.partition(" ")
    found = {k: v for k, v in parse_dict_header(params).items() if k not in ("nonce", "opaque")}
    found["stale"] = (found.get("stale") or "false").lower()
    return {"scheme": scheme, **found}


# --- flows: several requests in a row, with a cookie jar, as clients' test suites run them ---


class Flow:
    """One server's side of a flow: it sends the requests and notes every answer, step by step."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.base = side.base
        self.steps: list[dict[str, Any]] = []

    def saw(self, step: str, response: requests.Response, **observed: Any) -> requests.Response:
        """Note a step: each answer it took (a challenge, a redirect, the last) and more."""
        answers = [self.side.answer(r) for r in (*response.history, response)]
        self.steps.append({"step": step, "answers": answers, **json.loads(json.dumps(observed))})
        return response


def cookie_jar(f: Flow) -> None:
    """Set, delete and expire cookies through one jar."""
    with requests.Session() as s:
        f.saw("set two", s.get(f.base + "/cookies/set?flavour=oatmeal&size=large"))
        f.saw("set one by path", s.get(f.base + "/cookies/set/colour/blue"))
        f.saw("delete one", s.get(f.base + "/cookies/delete?size"))
        # Expire a cookie through response-headers, as requests' own test suite does.
        past = "Thu, 01 Jan 1970 00:00:00 GMT"
        expire = {"Set-Cookie": f"flavour=x; Expires={past}"}
        f.saw("expire one", s.get(f.base + "/response-headers", params=expire))
        f.saw("what is left", s.get(f.base + "/cookies"))
        expire = {"Set-Cookie": "colour=red; Max-Age=0"}
        f.saw("Max-Age=0", s.get(f.base + "/response-headers", params=expire))
        f.saw("the jar", s.get(f.base + "/cookies"), jar=sorted(s.cookies.keys()))


def digest_logins(f: Flow) -> None:
    """Log in with Digest: default algorithm, SHA-256, SHA-512 never stale; a wrong password."""
    with requests.Session() as s:
        for path in (
            "/digest-auth/auth/user/passwd",
            "/digest-auth/auth/user/passwd/SHA-256",
            "/digest-auth/auth/user/passwd/SHA-512/never",
        ):
            # A new auth each time: one reused would send the last nonce and algorithm
            # before any challenge, which httpbin takes for SHA-256 too ("digest-strict").
            r = s.get(f.base + path, auth=HTTPDigestAuth("user", "passwd"))
            f.saw(path, r, jar=sorted(s.cookies.keys()))
        path = "/digest-auth/auth/user/passwd"
        wrong = s.get(f.base + path, auth=HTTPDigestAuth("user", "x"))
        f.saw("wrong password", wrong, jar=sorted(s.cookies.keys()))


def digest_require_cookie(f: Flow) -> None:
    """?require-cookie=1: the client must send back the cookie the challenge set."""
    path = f.base + "/digest-auth/auth/user/passwd/MD5/never?require-cookie=1"
    first = f.saw("challenge", requests.get(path))
    nonce = parse_dict_header(first.headers["WWW-Authenticate"].partition(" ")[2])["nonce"]
    header = f'Digest username="user", realm="me@kennethreitz.com", nonce="{nonce}", uri="/x"'
    # Credentials but no Cookie header at all: challenged again.
    f.saw("no cookie", requests.get(path, headers={"Authorization": header}))
    # A Cookie header, but not the one the challenge set: 403, with httpbin's error body.
    f.saw("other cookie", requests.get(path, headers={"Authorization": header, "Cookie": "a=b"}))
    # requests sends the challenge's cookies with its retry.
    f.saw("kept", requests.get(path, auth=HTTPDigestAuth("user", "passwd")))


def digest_stale_after(f: Flow) -> None:
    """stale_after=1: the first login works, the next request with that nonce is stale."""
    path = f.base + "/digest-auth/auth/user/passwd/MD5/1"
    auth = HTTPDigestAuth("user", "passwd")
    with requests.Session() as s:
        f.saw("first login", s.get(path, auth=auth), stale_after=s.cookies.get("stale_after"))
        # requests reuses the nonce it has (nc=2): the server says stale, requests retries.
        f.saw("nonce reused", s.get(path, auth=auth), stale_after=s.cookies.get("stale_after"))


FLOWS = [cookie_jar, digest_logins, digest_stale_after, digest_require_cookie]

# Flow steps that differ on purpose: reason, what differs, the sandbox's status.
FLOW_DIFFERS = {
    # httpbin checks the hash of a URL with a query by adding bytes to a str: a 500, without
    # the cookies its success sets (fake, stale_after), which the sandbox sets.
    "digest_require_cookie: kept": (
        "httpbin-crash",
        ("status", "body", "Content-Type", "Set-Cookie"),
        200,
    ),
}


def run(flow: Callable[[Flow], None], side: Side) -> list[dict[str, Any]]:
    """Run a flow against one server; return its steps."""
    f = Flow(side)
    flow(f)
    return f.steps


# The request whose answer shows the headers every answer has, and those headers.
GLOBAL_CASE = case("GET", "/get", headers={"Origin": "http://elsewhere.example"})
GLOBAL_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Sandbox-Trace",
)


def route_shapes(app: Any, blueprint: str = "", prefix: str = "") -> list[str]:
    """Return an app's routes (a blueprint's), variables blanked: /status/<>, /links/<>/<>."""
    rules = (r for r in app.url_map.iter_rules() if r.endpoint.startswith(blueprint))
    return sorted({re.sub(r"<[^>]+>", "<>", r.rule.removeprefix(prefix)) for r in rules})


def record(side: Side, app: Any) -> dict[str, Any]:
    """Return httpbin's answers to every case and flow; tests/httpbin_record.py saves them."""
    answer = side.send(GLOBAL_CASE)
    return {
        "cases": {c.key: side.answer(side.send(c)) for c in CASES},
        "flows": {flow.__name__: run(flow, side) for flow in FLOWS},
        "routes": route_shapes(app),
        "global headers": {name: answer.headers.get(name) for name in GLOBAL_HEADERS},
    }


# --- the comparison ---


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    """Load httpbin's recorded answers."""
    if not RECORDING.exists():
        pytest.fail(f"{RECORDING} is missing: record httpbin's answers: {RECORD}", pytrace=False)
    recording = json.loads(RECORDING.read_text(encoding="utf-8"))
    version = recording["httpbin"]
    assert version == HTTPBIN_VERSION, f"recorded httpbin {version}, not {HTTPBIN_VERSION}"
    return recording


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[LiveServer]:
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path_factory.mktemp("compat") / "data")})
    with serve(app) as server:
        yield server


@pytest.fixture(scope="module")
def ours(sandbox) -> Side:
    return Side(sandbox.url, PREFIX)


def recording_of(recorded: dict[str, Any], kind: str, key: str) -> Any:
    """Return httpbin's recorded answer; fail with the command that records it if there is none."""
    if key not in recorded[kind]:
        pytest.fail(f"httpbin's answer to {key!r} was never recorded: {RECORD}", pytrace=False)
    return recorded[kind][key]


def compare(theirs: dict[str, Any], ours: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Return what differs between two answers, aspect by aspect."""
    found = []
    if theirs["status"] != ours["status"]:
        found.append(("status", theirs["status"], ours["status"]))
    for name in sorted({*theirs["headers"], *ours["headers"]}):
        a, b = theirs["headers"].get(name), ours["headers"].get(name)
        if a != b:
            found.append((name, a, b))
    if theirs["body"] != ours["body"]:
        found.append(("body", theirs["body"], ours["body"]))
    return found


def compare_step(theirs: dict[str, Any], ours: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Return what differs between two flow steps: what was observed, then answer by answer."""
    names = sorted({*theirs, *ours} - {"answers"})
    found = [(k, theirs.get(k), ours.get(k)) for k in names if theirs.get(k) != ours.get(k)]
    if len(theirs["answers"]) != len(ours["answers"]):
        found.append(("answers", len(theirs["answers"]), len(ours["answers"])))
    for a, b in zip(theirs["answers"], ours["answers"], strict=False):  # as far as both go
        found += compare(a, b)
    return found


def check(
    name: str,
    found: list[tuple[str, Any, Any]],
    ours: dict[str, Any],
    reason: str | None = None,
    aspects: tuple[str, ...] = (),
    status: int | None = None,
) -> None:
    """Assert answers match, or differ only by a DELIBERATE reason, only where it says."""
    if reason is None:
        assert found == [], f"{name} differs from httpbin: {found}"
        return
    assert reason in DELIBERATE
    allowed = set(aspects) | ({*COMPARED_HEADERS} if "headers" in aspects else set())
    unexpected = [f for f in found if f[0] not in allowed and f[0] != "Content-Length"]
    assert unexpected == [], f"{name}: beyond '{reason}': {unexpected}"
    assert found, f"{name} is listed as differing ({reason}) but matches httpbin"
    if status is not None:
        assert ours["status"] == status, ours["body"]
    if ours["status"] >= 400 and "body" in aspects and reason != "own-samples":
        assert ours["headers"]["Content-Type"] == ["application/problem+json"], ours["body"]


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.id)
def test_the_same_request_gets_httpbins_answer(recorded, ours, c):
    theirs = recording_of(recorded, "cases", c.key)
    answer = ours.answer(ours.send(c))
    check(c.id, compare(theirs, answer), answer, c.differs, c.aspects, c.ours)


@pytest.mark.parametrize("flow", FLOWS, ids=lambda flow: flow.__name__)
def test_a_flow_goes_the_same_way_step_by_step(recorded, ours, flow):
    theirs = recording_of(recorded, "flows", flow.__name__)
    steps = run(flow, ours)  # live: the client answers the sandbox's own nonces
    assert [s["step"] for s in steps] == [s["step"] for s in theirs]
    for a, b in zip(theirs, steps, strict=True):
        found = compare_step(a, b)
        name = f"{flow.__name__}: {b['step']}"
        check(name, found, b["answers"][-1], *FLOW_DIFFERS.get(name, ()))


def test_every_case_is_a_request_of_its_own():
    keys = [c.key for c in CASES]
    assert sorted(k for k in keys if keys.count(k) > 1) == []


def test_every_recording_is_of_a_case_or_flow_still_here(recorded):
    """A case or flow removed or changed leaves its old recording: record again to drop it."""
    stale = set(recorded["cases"]) - {c.key for c in CASES}
    stale |= set(recorded["flows"]) - {flow.__name__ for flow in FLOWS}
    assert stale == set(), f"recordings of requests no case or flow sends; run {RECORD}"
    steps = {f"{name}: {s['step']}" for name, steps in recorded["flows"].items() for s in steps}
    assert set(FLOW_DIFFERS) <= steps, set(FLOW_DIFFERS) - steps


# Reasons shown by tests other than the tables: the global headers (the test below), and a
# wait longer than 10 s (tests/test_server.py::test_waits_are_clamped_to_ten_seconds; a
# case here would have waited as long on httpbin's side while recording).
SHOWN_ELSEWHERE = {"cors", "isolation", "record-trace", "time-bound"}


def test_every_deliberate_difference_is_used():
    used = {c.differs for c in CASES} | {d[0] for d in FLOW_DIFFERS.values()} | SHOWN_ELSEWHERE
    assert set(DELIBERATE) <= used, set(DELIBERATE) - used


def test_every_httpbin_route_is_in_the_playground(recorded, sandbox):
    theirs = set(recorded["routes"])
    ours = set(route_shapes(sandbox.app, "server.", PREFIX))
    assert theirs - ours == {"/static/<>"}  # "no-static" in DELIBERATE


def test_every_answer_differs_only_by_the_global_headers(recorded, ours):
    """The differences every answer has: CORS without credentials, the sandbox, the trace."""
    theirs = recorded["global headers"]
    answer = ours.send(GLOBAL_CASE)
    assert theirs["Access-Control-Allow-Origin"] == "http://elsewhere.example"
    assert theirs["Access-Control-Allow-Credentials"] == "true"
    assert answer.headers["Access-Control-Allow-Origin"] == "*"  # "cors"
    assert "Access-Control-Allow-Credentials" not in answer.headers
    assert theirs["Content-Security-Policy"] is None
    assert answer.headers["Content-Security-Policy"] == "sandbox"  # "isolation"
    assert theirs["X-Content-Type-Options"] is None
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert theirs["X-Sandbox-Trace"] is None
    assert answer.headers["X-Sandbox-Trace"]  # "record-trace"
