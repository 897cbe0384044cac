"""Dynamic data: generated, streamed, ranged, dripped and delayed answers, as httpbin makes them.

Limits, and what happens past them (the same as httpbin's caps):

- sizes (bytes, stream-bytes, drip) are clamped to MAX_BYTES (100 KB);
  range/<n> is a fixed resource, so a larger n answers 404 (no such resource), as in httpbin;
- stream/<n> is clamped to MAX_LINES (100) lines;
- every wait (delay, drip's delay plus duration, range's duration) is clamped to
  MAX_SECONDS (10 s) in all.

A negative or non-numeric value is a 400 problem, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import os
import random
import re
import time
import uuid
from collections.abc import Iterator

from flask import Response, json, redirect, request, url_for

from sandbox.capacity import client_gone, take_slot, wait
from sandbox.errors import InvalidPath, InvalidQuery, NotFound, SandboxError
from sandbox.record import event

from .views import (
    ANY_METHOD,
    BODY_KEYS,
    MAX_BYTES,
    MAX_LINES,
    MAX_SECONDS,
    bp,
    echo,
    json_response,
    query_number,
    query_value,
    seconds,
    streamed,
    whole_number,
)


def _size(raw: str, name: str = "n (number of bytes)") -> int:
    n = whole_number(raw, name, 0)
    if n > MAX_BYTES:
        event("server", f"{n} bytes asked for, clamped to the {MAX_BYTES} byte limit")
    return min(n, MAX_BYTES)


def _random_bytes(n: int) -> bytes:
    """Return n random bytes; with ?seed= the same bytes every time."""
    raw = query_value("seed", any_case=True)
    if raw is None:
        return os.urandom(n)
    try:
        seed = int(raw)
    except ValueError:
        raise InvalidQuery(f"seed must be a whole number (got {raw!r}).") from None
    # Its own Random(seed), not random.seed(): reseeding the shared generator would change
    # the numbers every other thread gets. One randint per byte gives httpbin's exact bytes.
    rng = random.Random(seed)
    return bytes(rng.randint(0, 255) for _ in range(n))


def chunk_size_asked() -> int:
    """Return ?chunk_size= in bytes (10 KB when absent); like httpbin, less than 1 means 1."""
    raw = query_value("chunk_size", any_case=True)
    try:
        return 10 * 1024 if raw is None else max(1, int(raw))
    except ValueError:
        raise InvalidQuery(f"chunk_size must be a whole number of bytes (got {raw!r}).") from None


# --- dynamic data: made fresh for each request ---


@bp.get("/uuid")
def uuid4() -> Response:
    """Answer a fresh random UUID (version 4)."""
    return json_response({"uuid": str(uuid.uuid4())})


@bp.get("/base64/<value>")
def base64_decode(value: str) -> Response:
    """Decode a URL-safe base64 value (- and _ instead of + and /) and answer the text."""
    try:
        # validate=True refuses stray characters instead of silently skipping them;
        # the missing "=" padding is added back, since URLs usually leave it out.
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidPath(
            f"{value!r} is not URL-safe base64 of UTF-8 text. Encode it first, e.g. "
            "base64.urlsafe_b64encode('hello'.encode()) gives aGVsbG8=; ask /server/base64/aGVsbG8="
        ) from None
    # text/html, as httpbin answers: decoded markup shows as a page. Any script in it stays
    # inert, because every playground answer is sandboxed (see "isolation" in views.py).
    return Response(text, mimetype="text/html")


@bp.get("/bytes/<n>")
def random_bytes(n: str) -> Response:
    """Answer n random bytes (at most 100 KB); ?seed= makes them repeatable."""
    return Response(_random_bytes(_size(n)), mimetype="application/octet-stream")


@bp.get("/stream-bytes/<n>")
def stream_bytes(n: str) -> Response:
    """Stream n random bytes in chunks of ?chunk_size= (chunked transfer encoding)."""
    data = _random_bytes(_size(n))
    chunk_size = chunk_size_asked()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), chunk_size):
            yield data[start : start + chunk_size]

    # No Content-Length: the server sends each chunk with its own size as it comes.
    return streamed(chunks(), mimetype="application/octet-stream")


@bp.get("/stream/<n>")
def stream(n: str) -> Response:
    """Stream n JSON documents (at most 100), one per line, each a /get answer with an id."""
    lines = whole_number(n, "n (number of lines)", 0)
    if lines > MAX_LINES:
        event("server", f"{lines} lines asked for, clamped to {MAX_LINES}")
    info = echo("args", "headers", "origin", "url")  # read now: the request ends before the body

    def generate() -> Iterator[str]:
        for i in range(min(lines, MAX_LINES)):
            yield json.dumps({**info, "id": i}) + "\n"

    return streamed(generate(), mimetype="application/json")


# Range values: "bytes=first-last", "bytes=first-" or "bytes=-suffix" (RFC 9110 14.1.2).
BYTE_RANGE = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


class RangeNotSatisfiable(SandboxError):
    """The Range asks for bytes the resource does not have: 416."""

    status = 416
    title = "Range not satisfiable"


def _byte_range(header: str, size: int) -> range | None:
    """Return the positions a Range header asks for (empty if none exist), or None for all."""
    unit, _, ranges = header.partition("=")
    match = BYTE_RANGE.fullmatch(ranges)
    if unit.strip().lower() != "bytes" or not match or match.group(1) == match.group(2) == "":
        # A server may ignore a Range it does not support or cannot read, and send the whole
        # body with 200 (RFC 9110 14.2); httpbin does. Several ranges (bytes=0-1,5-6) land
        # here too: answering them takes a multipart/byteranges body.
        event("server", f"range: Range {header!r} not supported, sending the whole body")
        return None
    first, last = match.groups()
    if first == "":  # a suffix: the last N bytes
        return range(max(0, size - int(last)), size)
    # A last position past the end means "to the end" (RFC 9110 14.1.2; httpbin answers 416
    # there); a first one past the end, or after the last, matches nothing.
    return range(int(first), min(int(last) + 1 if last else size, size))


@bp.get("/range/<n>")
def range_request(n: str) -> Response:
    """Serve n bytes (abc...z repeated) that honour a Range header: 206, or 416 if out of range."""
    size = whole_number(n, "n (number of bytes)", 0)
    # The same bytes every time: ranges only make sense on a resource that does not change.
    headers = {"ETag": f"range{size}", "Accept-Ranges": "bytes"}
    if not 1 <= size <= MAX_BYTES:
        raise NotFound(
            f"/range/<n> serves from 1 to {MAX_BYTES} bytes; there is no resource of "
            f"{size} bytes. Ask for /server/range/1024, say.",
            headers=headers,
        )
    chunk_size = chunk_size_asked()
    pause = seconds(query_value("duration", "0"), "duration", InvalidQuery) / size
    asked = _byte_range(request.headers["Range"], size) if "Range" in request.headers else None
    wanted = range(size) if asked is None else asked
    if not wanted:
        event("server", f"range: {request.headers['Range']} is outside {size} bytes, 416")
        headers["Content-Range"] = f"bytes */{size}"  # tells the client the real size
        raise RangeNotSatisfiable(
            f"Range {request.headers['Range']!r} asks for no byte of these {size} (positions "
            f"0 to {size - 1}). Send Range: bytes=0-9 (the first ten bytes), bytes=10- (from "
            "10 to the end) or bytes=-5 (the last five).",
            headers=headers,
        )
    first, last = wanted[0], wanted[-1]
    # Content-Range is only meaningful on a 206, but httpbin sends it on the 200 too.
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    headers["Content-Length"] = str(len(wanted))
    status = 206 if len(wanted) < size else 200
    if status == 206:
        event("server", f"range: sent bytes {first}-{last} of {size}, 206 Partial Content")
    if pause:
        take_slot("range with a duration")  # a slow answer: see sandbox/capacity.py
    gone = client_gone()

    def generate() -> Iterator[bytes]:
        for start in range(first, last + 1, chunk_size):
            end = min(start + chunk_size, last + 1)
            if pause and not wait(pause * (end - start), gone):
                return  # the client hung up: stop, and give the thread back
            yield bytes(ord("a") + i % 26 for i in range(start, end))

    return streamed(generate(), status=status, headers=headers, mimetype="application/octet-stream")


@bp.get("/drip")
def drip() -> Response:
    """Drip ?numbytes= '*' over ?duration= seconds, after ?delay=, with status ?code=."""
    delay = seconds(query_value("delay", "0"), "delay", InvalidQuery)
    duration = seconds(query_value("duration", "2"), "duration", InvalidQuery)
    if delay + duration > MAX_SECONDS:
        duration = MAX_SECONDS - delay
        event("server", f"drip: delay + duration clamped to {MAX_SECONDS} s in all")
    numbytes = query_number("numbytes", 10, 1)
    if numbytes > MAX_BYTES:
        event("server", f"drip: {numbytes} bytes clamped to {MAX_BYTES}")
        numbytes = MAX_BYTES
    code = query_number("code", 200, 100, 599)
    take_slot("drip")  # a slow answer: see sandbox/capacity.py
    gone = client_gone()
    # Before the status line: the client waits for any answer at all.
    if not wait(delay, gone):
        event("server", "drip: the client hung up during the delay")
    event("server", f"drip: {numbytes} bytes over {duration:g} s after {delay:g} s")
    # Send in at most about 100 pieces, each when its share of the duration has passed.
    piece = max(1, numbytes // 100)

    def generate() -> Iterator[bytes]:
        start, sent = time.monotonic(), 0
        while sent < numbytes:
            size = min(piece, numbytes - sent)
            yield b"*" * size
            sent += size
            if not wait(max(0.0, start + duration * sent / numbytes - time.monotonic()), gone):
                return  # the client hung up: stop, and give the thread back

    return streamed(
        generate(),
        status=code,
        mimetype="application/octet-stream",
        headers={"Content-Length": str(numbytes)},
    )


@bp.get("/links/<n>")
def links(n: str) -> Response:
    """Redirect to the first page of a set of n linked pages."""
    return redirect(url_for("server.link_page", n=whole_number(n, "n", 0), offset=0), 302)


@bp.get("/links/<n>/<offset>")
def link_page(n: str, offset: str) -> Response:
    """Answer an HTML page of n links (1 to 200) to its siblings; the current one is not a link."""
    count = min(max(1, whole_number(n, "n", 0)), 200)  # httpbin's bounds
    current = whole_number(offset, "offset", 0)
    parts = ["<html><head><title>Links</title></head><body>"]
    for i in range(count):
        if i == current:
            parts.append(f"{i} ")
        else:  # url_for keeps the links right when the app is mounted under a prefix
            parts.append(f"<a href='{url_for('server.link_page', n=count, offset=i)}'>{i}</a> ")
    parts.append("</body></html>")
    return Response("".join(parts), mimetype="text/html")


@bp.route("/delay/<n>", methods=ANY_METHOD)
def delay(n: str) -> Response:
    """Wait n seconds (at most 10, like httpbin), then echo the request."""
    pause = seconds(n, "n (seconds)")
    take_slot("delay")  # a slow answer: see sandbox/capacity.py
    if wait(pause, client_gone()):
        event("server", f"delay: waited {pause:g} s before answering")
    else:
        event("server", "delay: the client hung up before the answer was ready")
    return json_response(echo(*(k for k in BODY_KEYS if k != "json")))
