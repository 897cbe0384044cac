"""The server module's challenges, each checked from the request records.

Checks run after every request, so each one returns False at once when the
record's path is not the one it is about.
"""

from __future__ import annotations

import re

from sandbox.record import Record, RecordBuffer
from sandbox.registry import Challenge

REDIRECT_HOP = re.compile(r"/server/(?:redirect|relative-redirect|absolute-redirect)/(\d+)")

# Headers a client, proxy or the sandbox adds by itself: sending them is not "custom".
NOT_CUSTOM = ("x-sandbox-", "x-forwarded-", "x-requested-with")

# How far back a multi-request challenge looks.
LOOK_BACK = 100


def _header(headers: dict[str, str], name: str) -> str:
    """Return a header from a record's header dict, whatever its case."""
    return next((v for k, v in headers.items() if k.lower() == name), "")


def followed_three_redirects(record: Record, buffer: RecordBuffer) -> bool:
    """Return whether this GET /server/get ends a chain of redirect/3, /2, /1."""
    if record.path != "/server/get" or record.method != "GET" or record.status != 200:
        return False
    # Runs on every GET /server/get, the busiest route: first the one record before this.
    # If it is another playground request but no hop, no chain ends here; only then look
    # as far back as the three hops need (other pages' requests may come in between).
    latest = buffer.recent(1)
    if not latest:
        return False
    if latest[0].path.startswith("/server/") and not REDIRECT_HOP.fullmatch(latest[0].path):
        return False
    hops = [r for r in buffer.recent(10) if r.path.startswith("/server/")][:3]
    if len(hops) < 3:
        return False
    for expected, hop in zip(("1", "2", "3"), hops, strict=True):  # newest first: /1 was last
        match = REDIRECT_HOP.fullmatch(hop.path)
        if not match or match.group(1) != expected or not 300 <= (hop.status or 0) < 400:
            return False
    return True


def sent_custom_header(record: Record, buffer: RecordBuffer) -> bool:
    """Return whether a request to /server/headers carried an X- header of the learner's own."""
    if record.path != "/server/headers" or record.status != 200:
        return False
    return any(
        name.lower().startswith("x-") and not name.lower().startswith(NOT_CUSTOM)
        for name in record.request.get("headers", {})
    )


def _cookies_set_by(record: Record) -> set[str]:
    """Return the names of the cookies a /server/cookies/set request set."""
    if not 300 <= (record.status or 0) < 400:
        return set()
    if record.path == "/server/cookies/set":
        return set(record.query)
    if record.path.startswith("/server/cookies/set/"):
        return {record.path.removeprefix("/server/cookies/set/").split("/", 1)[0]}
    return set()


def read_back_cookie(record: Record, buffer: RecordBuffer) -> bool:
    """Return whether GET /server/cookies sent back a cookie that /cookies/set had set."""
    if record.path != "/server/cookies" or record.method != "GET" or record.status != 200:
        return False
    # The record keeps cookie names only: "theme=[redacted]; session=[redacted]".
    cookie = _header(record.request.get("headers", {}), "cookie")
    sent = {part.split("=", 1)[0].strip() for part in cookie.split(";") if part.strip()}
    if not sent:
        return False
    return any(sent & _cookies_set_by(earlier) for earlier in buffer.recent(LOOK_BACK))


def passed_basic_auth(record: Record, buffer: RecordBuffer) -> bool:
    """Return whether a Basic auth endpoint accepted the credentials."""
    return record.status == 200 and record.path.startswith(
        ("/server/basic-auth/", "/server/hidden-basic-auth/")
    )


def posted_json(record: Record, buffer: RecordBuffer) -> bool:
    """Return whether a JSON body was POSTed to /server/post."""
    if record.path != "/server/post" or record.method != "POST" or record.status != 200:
        return False
    content_type = _header(record.request.get("headers", {}), "content-type")
    return content_type.split(";")[0].strip().lower() == "application/json"


def saw_module_off(record: Record, buffer: RecordBuffer) -> bool:
    """Return whether a server route answered the module-off problem."""
    if record.module != "server" or record.status != 404:
        return False
    content_type = _header(record.response.get("headers", {}), "content-type")
    return content_type.startswith("application/problem+json")


CHALLENGES = (
    Challenge(
        id="server.teapot",
        title="Get a 418 I'm a teapot",
        hint="Ask /server/status/418.",
        check=lambda record, buffer: record.status == 418 and record.module == "server",
    ),
    Challenge(
        id="server.redirects",
        title="Follow a chain of three redirects",
        hint="Ask /server/redirect/3 and let the client follow each 302 to /server/get: "
        "curl -L http://127.0.0.1:5000/server/redirect/3, or requests.get(...) (requests "
        "follows redirects by itself; response.history lists the hops).",
        check=followed_three_redirects,
    ),
    Challenge(
        id="server.headers",
        title="Send a header of your own",
        hint="Send a custom X- header to /server/headers and see it echoed: "
        "curl -H 'X-Mood: curious' http://127.0.0.1:5000/server/headers, or "
        "requests.get(url, headers={'X-Mood': 'curious'}).",
        check=sent_custom_header,
    ),
    Challenge(
        id="server.cookies",
        title="Set a cookie and send it back",
        hint="Ask /server/cookies/set?theme=dark, then /server/cookies with the cookie: "
        "curl -c jar -b jar -L 'http://127.0.0.1:5000/server/cookies/set?theme=dark', or a "
        "requests.Session(), which keeps cookies between requests.",
        check=read_back_cookie,
    ),
    Challenge(
        id="server.basic_auth",
        title="Log in with HTTP Basic auth",
        hint="Ask /server/basic-auth/alice/secret with that user and password: "
        "curl -u alice:secret http://127.0.0.1:5000/server/basic-auth/alice/secret, or "
        "requests.get(url, auth=('alice', 'secret')).",
        check=passed_basic_auth,
    ),
    Challenge(
        id="server.json_post",
        title="POST a JSON body",
        hint="POST JSON to /server/post with Content-Type: application/json: "
        'curl --json \'{"name": "Ada"}\' http://127.0.0.1:5000/server/post, or '
        "requests.post(url, json={'name': 'Ada'}).",
        check=posted_json,
    ),
    Challenge(
        id="server.module_off",
        title="Switch the server module off and see its routes disappear",
        hint='Send PATCH /sandbox/modules/server {"enabled": false}, then ask /server/get: '
        "it answers a 404 problem naming the module. Switch it back on with "
        '{"enabled": true}.',
        check=saw_module_off,
    ),
)
