"""Responses: status codes, caching headers, content types and encodings, as httpbin sends them."""

from __future__ import annotations

import gzip
import json as jsonlib
import math
import secrets
import uuid
import zlib

from flask import Response, json, request, url_for
from werkzeug.http import http_date

from sandbox.errors import InvalidBody
from sandbox.record import event

from .views import ANY_METHOD, TOKEN, bp, echo, json_response, safe_header_value, whole_number

# --- status codes: the first thing a client reads ---

TEAPOT = r'''
    -=[ teapot ]=-

       _...._
     .'  _ _ `.
    | ."` ^ `". _,
    \_;`"---"`|//
      |       ;/
      \_     _/
        `"""`
'''

# Codes whose meaning needs a header (or a body) to be complete, as in httpbin.
REDIRECT_CODES = (301, 302, 303, 305, 307)
NOT_ACCEPTABLE = {
    "message": "Client did not request a supported media type.",
    "accept": ["image/webp", "image/svg+xml", "image/jpeg", "image/png", "image/*"],
}


def status_response(code: int) -> Response:
    """Build httpbin's answer for a status code: empty, unless the code needs more."""
    response = Response("", status=code)
    if code in REDIRECT_CODES:  # a redirect without a Location has nowhere to send you
        response.headers["Location"] = url_for("server.redirect_n", n=1)
    elif code == 401:  # a 401 must say how to authenticate (RFC 9110 11.6.1)
        response.headers["WWW-Authenticate"] = 'Basic realm="Fake Realm"'
    elif code == 407:  # the same, for a proxy
        response.headers["Proxy-Authenticate"] = 'Basic realm="Fake Realm"'
    elif code == 406:  # "none of the types your Accept header lists": say which exist
        response.set_data(jsonlib.dumps(NOT_ACCEPTABLE))
        response.mimetype = "application/json"
    elif code == 418:  # RFC 2324, the Hyper Text Coffee Pot Control Protocol
        response.set_data(TEAPOT)
        response.headers["x-more-info"] = "http://tools.ietf.org/html/rfc2324"
    return response


def _status_choices(codes: str) -> tuple[list[int], list[float]]:
    how = "Send one code (/status/404) or a list with weights (/status/200:0.9,500:0.1)"
    found, weights = [], []
    for choice in codes.split(","):
        code, _, weight = choice.partition(":")
        try:
            number, chance = int(code), float(weight or 1)
        except ValueError:
            raise InvalidBody(f"{how}; {choice!r} is not a code[:weight].") from None
        if not 100 <= number <= 599:
            raise InvalidBody(f"{how}; status codes go from 100 to 599 (got {number}).")
        if not math.isfinite(chance) or chance < 0:
            raise InvalidBody(f"{how}; a weight is a number, 0 or more (got {weight!r}).")
        found.append(number)
        weights.append(chance)
    if sum(weights) <= 0:
        raise InvalidBody(f"{how}; at least one weight must be more than 0.")
    return found, weights


@bp.route("/status/<codes>", methods=ANY_METHOD)
def status(codes: str) -> Response:
    """Answer with the status code asked for, or one picked at random from a weighted list."""
    found, weights = _status_choices(codes)
    code = found[0]
    if len(found) > 1:
        # SystemRandom keeps no state of its own, so threads cannot disturb each other.
        code = secrets.SystemRandom().choices(found, weights=weights)[0]
        event("server", f"status: picked {code} from {codes}")
    if code < 200:
        # 1xx answers are interim: the client keeps waiting for a final one, which never
        # comes, so most clients report a closed connection. That is why servers don't.
        event("server", f"status: {code} is an interim answer; expect the client to give up")
    return status_response(code)


# --- caching: let the client keep a copy and ask "has it changed?" ---


def _not_modified(etag: str | None = None) -> Response:
    # 304 has no body: the client shows the copy it already has.
    response = status_response(304)
    if etag is not None:
        response.set_etag(etag)  # a 304 repeats the validator (RFC 9110 15.4.5)
    return response


@bp.get("/cache")
def cache() -> Response:
    """Answer 304 to a conditional request (If-Modified-Since/If-None-Match), else 200."""
    if request.headers.get("If-Modified-Since") or request.headers.get("If-None-Match"):
        # httpbin does not compare anything: any validator means "you still have it".
        event("server", "cache: conditional request, answered 304 Not Modified without a body")
        return _not_modified()
    response = json_response(echo("args", "headers", "origin", "url"))
    # Validators the client can send back next time to ask "has it changed?".
    response.headers["Last-Modified"] = http_date()
    response.set_etag(uuid.uuid4().hex)
    return response


@bp.get("/cache/<n>")
def cache_control(n: str) -> Response:
    """Answer like /get with Cache-Control: public, max-age=n (cache me for n seconds)."""
    max_age = whole_number(n, "n (seconds)", 0)
    response = json_response(echo("args", "headers", "origin", "url"))
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


@bp.get("/etag/<etag>")
def etag(etag: str) -> Response:
    """Act as a resource whose ETag is etag: If-None-Match may get 304, If-Match 412."""
    if not etag.isascii() or '"' in etag or not etag.isprintable():
        raise InvalidBody(f"An ETag is printable ASCII without quotes (got {etag!r}).")
    # werkzeug parses both headers into ETags: a list of tags, or "*" for any.
    if request.headers.get("If-None-Match"):
        # Weak comparison: W/"x" matches "x" (a GET only needs "the same content").
        if request.if_none_match.contains_weak(etag):
            event("server", f"etag: If-None-Match has '{etag}', answered 304")
            return _not_modified(etag)
    elif request.headers.get("If-Match") and not request.if_match.contains(etag):
        # If-Match guards a change: "only if it is still the version I saw" (lost updates).
        event("server", f"etag: If-Match lacks '{etag}', answered 412 Precondition Failed")
        return status_response(412)
    response = json_response(echo("args", "headers", "origin", "url"))
    # Quoted, as RFC 9110 8.8.3 says (httpbin sends it bare); clients compare it as is.
    response.set_etag(etag)
    return response


@bp.route("/response-headers", methods=["GET", "POST"])
def response_headers() -> Response:
    """Add each ?name=value to the response headers, and echo them all in the body."""
    added = []
    for name, value in request.args.items(multi=True):
        if not TOKEN.fullmatch(name) or name.lower() in ("content-length", "transfer-encoding"):
            raise InvalidBody(
                f"{name!r} cannot be set here: send header names made of letters, digits "
                "and '-' (the server sets Content-Length and Transfer-Encoding itself)."
            )
        added.append((name, safe_header_value(value, f"Header {name}")))
    response = json_response({})
    for name, value in added:
        if name.lower() == "content-type":
            response.headers[name] = value  # replace, so there is one Content-Type
        else:
            response.headers.add(name, value)
    # The body lists the headers, but the body's size is one of them: rebuild until the
    # Content-Length written in the body is the real one (httpbin's loop).
    body = b""
    while True:
        shown = {}
        for name in dict.fromkeys(name for name, _ in response.headers):
            values = response.headers.getlist(name)
            shown[name] = values[0] if len(values) == 1 else values
        new_body = (json.dumps(shown, indent=2) + "\n").encode("utf-8")
        if new_body == body:
            break
        body = new_body
        response.set_data(body)  # updates Content-Length
    return response


# --- formats: the same server, different Content-Types ---

SLIDESHOW = {
    "slideshow": {
        "author": "Yours Truly",
        "date": "date of publication",
        "slides": [
            {"title": "Wake up to WonderWidgets!", "type": "all"},
            {
                "items": [
                    "Why <em>WonderWidgets</em> are great",
                    "Who <em>buys</em> WonderWidgets",
                ],
                "title": "Overview",
                "type": "all",
            },
        ],
        "title": "Sample Slide Show",
    }
}

SLIDESHOW_XML = """<?xml version='1.0' encoding='us-ascii'?>

<!--  A SAMPLE set of slides  -->

<slideshow
    title="Sample Slide Show"
    date="Date of publication"
    author="Yours Truly"
    >

    <!-- TITLE SLIDE -->
    <slide type="all">
      <title>Wake up to WonderWidgets!</title>
    </slide>

    <!-- OVERVIEW -->
    <slide type="all">
        <title>Overview</title>
        <item>Why <em>WonderWidgets</em> are great</item>
        <item/>
        <item>Who <em>buys</em> WonderWidgets</item>
    </slide>

</slideshow>
"""

MOBY_DICK = """<!DOCTYPE html>
<html>
  <head>
  </head>
  <body>
      <h1>Herman Melville - Moby-Dick</h1>

      <div>
        <p>
          Call me Ishmael. Some years ago - never mind how long precisely - having little or
          no money in my purse, and nothing particular to interest me on shore, I thought I
          would sail about a little and see the watery part of the world. It is a way I have
          of driving off the spleen, and regulating the circulation. Whenever I find myself
          growing grim about the mouth; whenever it is a damp, drizzly November in my soul;
          whenever I find myself involuntarily pausing before coffin warehouses, and bringing
          up the rear of every funeral I meet; and especially whenever my hypos get such an
          upper hand of me, that it requires a strong moral principle to prevent me from
          deliberately stepping into the street, and methodically knocking people's hats off -
          then, I account it high time to get to sea as soon as I can.
        </p>
      </div>
  </body>
</html>
"""

UTF8_DEMO = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>UTF-8 demo</title></head>
<body>
<h1>UTF-8 encoded sample plain-text file</h1>
<pre>
Mathematics:   ∮ E⋅da = Q,  n → ∞, ∑ f(i) = ∏ g(i), ∀x∈ℝ: ⌈x⌉ = −⌊−x⌋
Greek:         Σὲ γνωρίζω ἀπὸ τὴν κόψη τοῦ σπαθιοῦ τὴν τρομερή
Russian:       Зарегистрируйтесь сейчас на Десятую Международную Конференцию
Japanese:      いろはにほへとちりぬるを わかよたれそつねならむ
Chinese:       我能吞下玻璃而不伤身体。
Thai:          ๏ แผ่นดินฮั่นเสื่อมโทรมแสนสังเวช
Arabic:        أنا قادر على أكل الزجاج و هذا لا يؤلمني.
Hebrew:        אני יכול לאכול זכוכית וזה לא מזיק לי.
Runes:         ᚻᛖ ᚳᚹᚫᚦ ᚦᚫᛏ ᚻᛖ ᛒᚢᛞᛖ ᚩᚾ ᚦᚫᛗ ᛚᚪᚾᛞᛖ ᚾᚩᚱᚦᚹᛖᚪᚱᛞᚢᛗ ᚹᛁᚦ ᚦᚪ ᚹᛖᛥᚫ
Box drawing:   ╔══╦══╗  ┌──┬──┐
               ║  ║  ║  │  │  │
               ╚══╩══╝  └──┴──┘
Emoji:         ☕ ✉ ☃ ♞
</pre>
</body>
</html>
"""

ROBOTS_TXT = """User-agent: *
Disallow: /deny
"""

ANGRY = """
          .-''''''-.
        .' _      _ '.
       /   O      O   \\
      :                :
      |                |
      :       __       :
       \\  .-"`  `"-.  /
        '.          .'
          '-......-'
     YOU SHOULDN'T BE HERE
"""


@bp.get("/json")
def json_sample() -> Response:
    """Answer a sample JSON document (Content-Type: application/json)."""
    return json_response(SLIDESHOW)


@bp.get("/html")
def html() -> Response:
    """Answer a sample HTML page (Content-Type: text/html)."""
    return Response(MOBY_DICK, mimetype="text/html")


@bp.get("/xml")
def xml() -> Response:
    """Answer a sample XML document (Content-Type: application/xml)."""
    return Response(SLIDESHOW_XML, mimetype="application/xml")


@bp.get("/encoding/utf8")
def utf8() -> Response:
    """Answer a page in many scripts, encoded as UTF-8 and saying so in its Content-Type."""
    # Flask adds "; charset=utf-8" to text types: without it a client may guess wrong
    # and show mojibake ("Ã©" for "é").
    return Response(UTF8_DEMO, mimetype="text/html")


@bp.get("/robots.txt")
def robots_txt() -> Response:
    """Answer the robots.txt that asks crawlers to stay out of /deny."""
    return Response(ROBOTS_TXT, mimetype="text/plain")


@bp.get("/deny")
def deny() -> Response:
    """Answer the page robots.txt forbids (robots.txt is a request, not a lock)."""
    return Response(ANGRY, mimetype="text/plain")


def _encoded(body: bytes, encoding: str) -> Response:
    # A server normally compresses only when Accept-Encoding allows it; like httpbin, this
    # one always does, so you can see a client undo it (requests and browsers do so quietly).
    response = Response(body, mimetype="application/json")
    response.headers["Content-Encoding"] = encoding
    event("server", f"{encoding}: body compressed to {len(body)} bytes")
    return response


@bp.get("/gzip")
def gzip_encoded() -> Response:
    """Answer gzip-compressed JSON (Content-Encoding: gzip)."""
    data = json_response(echo("headers", "origin", method=request.method, gzipped=True))
    return _encoded(gzip.compress(data.get_data()), "gzip")


@bp.get("/deflate")
def deflate_encoded() -> Response:
    """Answer deflate-compressed JSON (Content-Encoding: deflate, zlib format)."""
    data = json_response(echo("headers", "origin", method=request.method, deflated=True))
    return _encoded(zlib.compress(data.get_data()), "deflate")
