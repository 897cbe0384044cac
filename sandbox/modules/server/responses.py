"""Responses: status codes, caching headers, content types and encodings, as httpbin sends them."""

from __future__ import annotations

import gzip
import json as jsonlib
import math
import secrets
import uuid
import zlib

from flask import Response, current_app, json, request, url_for
from werkzeug.http import http_date

from sandbox.errors import InvalidPath, InvalidQuery
from sandbox.record import event

from . import images
from .views import (
    ANY_METHOD,
    TOKEN,
    bp,
    cookie_name,
    echo,
    json_response,
    safe_header_value,
    whole_number,
)

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
    elif code == 402:  # reserved for digital payment; httpbin quotes Mike Monteiro's talk
        response.set_data("F*ck you, pay me!")
        response.mimetype = "text/plain"
        response.headers["x-more-info"] = "http://vimeo.com/22053820"
    elif code == 406:  # "none of the types your Accept header lists": say which exist
        response.set_data(jsonlib.dumps(NOT_ACCEPTABLE))
        response.mimetype = "application/json"
    elif code == 418:  # RFC 2324, the Hyper Text Coffee Pot Control Protocol
        response.set_data(TEAPOT)
        response.mimetype = "text/plain"
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
            raise InvalidPath(f"{how}; {choice!r} is not a code[:weight].") from None
        if not 100 <= number <= 599:
            raise InvalidPath(f"{how}; status codes go from 100 to 599 (got {number}).")
        if not math.isfinite(chance) or chance < 0:
            raise InvalidPath(f"{how}; a weight is a number, 0 or more (got {weight!r}).")
        found.append(number)
        weights.append(chance)
    if sum(weights) <= 0:
        raise InvalidPath(f"{how}; at least one weight must be more than 0.")
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
        raise InvalidPath(f"An ETag is printable ASCII without quotes (got {etag!r}).")
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


def _set_cookie_name(value: str) -> str:
    """Return the name of the cookie a Set-Cookie value sets, as a browser reads it."""
    name, equals, _ = value.partition(";")[0].partition("=")
    if not equals or not name.strip():
        # "Set-Cookie: =session=x" makes a nameless cookie whose value is "session=x"; the
        # browser sends it back as "Cookie: session=x", which a server reads as a session.
        raise InvalidQuery(
            f"Set-Cookie {value!r} has no name: send name=value, then any attributes "
            "(Set-Cookie=flavour=oatmeal; Path=/). A nameless cookie comes back as its bare "
            "value, which a server would read as name=value: a way to plant any cookie."
        )
    return name.strip()


def _allowed_header(name: str, value: str) -> str:
    """Refuse the headers that would reach the sandbox's own cookies; return the value."""
    if name.lower() == "set-cookie":
        cookie_name(_set_cookie_name(value), InvalidQuery, "set")
    elif name.lower() == "clear-site-data" and ('"cookies"' in value or '"*"' in value):
        # It would wipe every cookie of this origin, the sandbox's session among them.
        cookie_name(current_app.config["SESSION_COOKIE_NAME"], InvalidQuery, "delete")
    return value


@bp.route("/response-headers", methods=["GET", "POST"])
def response_headers() -> Response:
    """Add each ?name=value to the response headers, and echo them all in the body."""
    added = []
    for name, value in request.args.items(multi=True):
        if not TOKEN.fullmatch(name) or name.lower() in ("content-length", "transfer-encoding"):
            raise InvalidQuery(
                f"{name!r} cannot be set here: send header names made of letters, digits "
                "and '-' (the server sets Content-Length and Transfer-Encoding itself)."
            )
        added.append((name, _allowed_header(name, safe_header_value(value, f"Header {name}"))))
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
        new_body = (json.dumps(shown, indent=2, sort_keys=True) + "\n").encode("utf-8")
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

<slideshow\x20
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

</slideshow>"""

# httpbin's sample page: a paragraph of Moby-Dick (chapter 112, The Blacksmith), all on one
# line as httpbin sends it. It is written here in short lines, joined with spaces below.
MOBY_PARAGRAPH = " ".join(
    """\
Availing himself of the mild, summer-cool weather that now reigned in these latitudes,
and in preparation for the peculiarly active pursuits shortly to be anticipated, Perth,
the begrimed, blistered old blacksmith, had not removed his portable forge to the hold
again, after concluding his contributory work for Ahab's leg, but still retained it on
deck, fast lashed to ringbolts by the foremast; being now almost incessantly invoked by
the headsmen, and harpooneers, and bowsmen to do some little job for them; altering, or
repairing, or new shaping their various weapons and boat furniture. Often he would be
surrounded by an eager circle, all waiting to be served; holding boat-spades,
pike-heads, harpoons, and lances, and jealously watching his every sooty movement, as he
toiled. Nevertheless, this old man's was a patient hammer wielded by a patient arm. No
murmur, no impatience, no petulance did come from him. Silent, slow, and solemn; bowing
over still further his chronically broken back, he toiled away, as if toil were life
itself, and the heavy beating of his hammer the heavy beating of his heart. And so it
was.—Most miserable! A peculiar walk in this old man, a certain slight but painful
appearing yawing in his gait, had at an early period of the voyage excited the curiosity
of the mariners. And to the importunity of their persisted questionings he had finally
given in; and so it came to pass that every one now knew the shameful story of his
wretched fate. Belated, and not innocently, one bitter winter's midnight, on the road
running between two country towns, the blacksmith half-stupidly felt the deadly numbness
stealing over him, and sought refuge in a leaning, dilapidated barn. The issue was, the
loss of the extremities of both feet. Out of this revelation, part by part, at last came
out the four acts of the gladness, and the one long, and as yet uncatastrophied fifth
act of the grief of his life's drama. He was an old man, who, at the age of nearly
sixty, had postponedly encountered that thing in sorrow's technicals called ruin. He had
been an artisan of famed excellence, and with plenty to do; owned a house and garden;
embraced a youthful, daughter-like, loving wife, and three blithe, ruddy children; every
Sunday went to a cheerful-looking church, planted in a grove. But one night, under cover
of darkness, and further concealed in a most cunning disguisement, a desperate burglar
slid into his happy home, and robbed them all of everything. And darker yet to tell, the
blacksmith himself did ignorantly conduct this burglar into his family's heart. It was
the Bottle Conjuror! Upon the opening of that fatal cork, forth flew the fiend, and
shrivelled up his home. Now, for prudent, most wise, and economic reasons, the
blacksmith's shop was in the basement of his dwelling, but with a separate entrance to
it; so that always had the young and loving healthy wife listened with no unhappy
nervousness, but with vigorous pleasure, to the stout ringing of her young-armed old
husband's hammer; whose reverberations, muffled by passing through the floors and walls,
came up to her, not unsweetly, in her nursery; and so, to stout Labor's iron lullaby,
the blacksmith's infants were rocked to slumber. Oh, woe on woe! Oh, Death, why canst
thou not sometimes be timely? Hadst thou taken this old blacksmith to thyself ere his
full ruin came upon him, then had the young widow had a delicious grief, and her orphans
a truly venerable, legendary sire to dream of in their after years; and all of them a
care-killing competency.
""".strip().splitlines()
)
MOBY_DICK = f"""<!DOCTYPE html>
<html>
  <head>
  </head>
  <body>
      <h1>Herman Melville - Moby-Dick</h1>

      <div>
        <p>
          {MOBY_PARAGRAPH}
        </p>
      </div>
  </body>
</html>"""

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
    # content_type, not mimetype: Flask would add "; charset=utf-8", and httpbin does not.
    return Response(SLIDESHOW_XML, content_type="application/xml")


@bp.get("/encoding/utf8")
def utf8() -> Response:
    """Answer a page in many scripts, encoded as UTF-8 and saying so in its Content-Type."""
    # Flask adds "; charset=utf-8" to text types: without it a client may guess wrong
    # and show mojibake ("Ã©" for "é").
    return Response(UTF8_DEMO, mimetype="text/html")


@bp.get("/robots.txt")
def robots_txt() -> Response:
    """Answer the robots.txt that asks crawlers to stay out of /deny."""
    return Response(ROBOTS_TXT, content_type="text/plain")


@bp.get("/deny")
def deny() -> Response:
    """Answer the page robots.txt forbids (robots.txt is a request, not a lock)."""
    return Response(ANGRY, content_type="text/plain")


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


def brotli_stored(data: bytes) -> bytes:
    """Wrap data in a brotli stream made of uncompressed blocks (RFC 7932, section 9.2)."""
    out = bytearray()
    bits, count = 0, 0  # brotli writes numbers bit by bit, least significant bit first

    def put(value: int, width: int) -> None:
        nonlocal bits, count
        bits |= value << count
        count += width

    def flush() -> None:  # pad to a whole byte, then move the bits into out
        nonlocal bits, count
        count += -count % 8
        out.extend(bits.to_bytes(count // 8, "little"))
        bits, count = 0, 0

    put(0, 1)  # WBITS: a single 0 bit means a 64 KB window
    for start in range(0, len(data), 65536):
        block = data[start : start + 65536]
        put(0, 1)  # ISLAST: more blocks follow
        put(0, 2)  # MNIBBLES: 0 means the length takes 4 nibbles (16 bits)
        put(len(block) - 1, 16)  # MLEN - 1: how many bytes this block holds
        put(1, 1)  # ISUNCOMPRESSED: the bytes follow as they are
        flush()
        out.extend(block)
    put(1, 1)  # ISLAST
    put(1, 1)  # ISLASTEMPTY: the stream ends here
    flush()
    return bytes(out)


@bp.get("/brotli")
def brotli_encoded() -> Response:
    """Answer brotli-encoded JSON (Content-Encoding: br)."""
    data = json_response(echo("headers", "origin", method=request.method, brotli=True))
    # Python's standard library has no brotli compressor, so this body is brotli's "stored"
    # form: valid brotli that every client decodes, only not smaller. A real server would
    # compress with the brotli package (pip install brotli) and get smaller than gzip.
    return _encoded(brotli_stored(data.get_data()), "br")


# --- images: one picture, in the format the client asks for ---

IMAGES = {
    "png": ("image/png", images.PNG),
    "jpeg": ("image/jpeg", images.JPEG),
    "webp": ("image/webp", images.WEBP),
    "svg": ("image/svg+xml", images.SVG.encode("utf-8")),
}


def _image(kind: str) -> Response:
    content_type, data = IMAGES[kind]
    return Response(data, content_type=content_type)  # as is: no "; charset=" added


@bp.get("/image")
def image() -> Response:
    """Answer the image format the Accept header prefers (webp, svg, jpeg, png), else 406."""
    accept = request.headers.get("Accept")
    if accept is None:
        return _image("png")  # no preference at all: PNG, as httpbin does
    accept = accept.lower()
    # httpbin's order: the first of these types that Accept mentions at all wins.
    for media_type, kind in (
        ("image/webp", "webp"),
        ("image/svg+xml", "svg"),
        ("image/jpeg", "jpeg"),
        ("image/png", "png"),
        ("image/*", "png"),
    ):
        if media_type in accept:
            event("server", f"image: Accept mentions {media_type}, answered {kind}")
            return _image(kind)
    event("server", f"image: Accept {accept!r} names no image type this server has, 406")
    return status_response(406)


@bp.get("/image/png")
def image_png() -> Response:
    """Answer the sample image as PNG."""
    return _image("png")


@bp.get("/image/jpeg")
def image_jpeg() -> Response:
    """Answer the sample image as JPEG."""
    return _image("jpeg")


@bp.get("/image/webp")
def image_webp() -> Response:
    """Answer the sample image as WebP."""
    return _image("webp")


@bp.get("/image/svg")
def image_svg() -> Response:
    """Answer the sample image as SVG (XML text that draws it)."""
    return _image("svg")
