"""Authentication the HTTP way: Basic, Bearer and Digest, as httpbin offers them.

The user name and password are part of the URL (``/basic-auth/alice/secret``): the
endpoint accepts exactly those, so you can try the right and the wrong ones.
Every comparison of a secret uses ``hmac.compare_digest``, which takes the same
time whether the first or the last character differs, so the answer's timing
does not leak how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from urllib.parse import unquote, urlsplit

from flask import Response, current_app, request

from sandbox.errors import InvalidPath
from sandbox.record import event

from .responses import status_response
from .views import bp, cookie_path, json_response


def _same(given: str, expected: str) -> bool:
    """Compare two secrets in constant time."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# --- auth: Basic ---


def _basic_ok(user: str, passwd: str) -> bool:
    # werkzeug decodes "Authorization: Basic base64(user:password)" into request.authorization;
    # a header that is not valid Basic gives None, never an error.
    auth = request.authorization
    if auth is None or auth.type != "basic":
        event("server", "basic auth: no Basic credentials sent")
        return False
    # Both comparisons always run (&, not `and`), so timing does not tell which one failed.
    if _same(auth.username or "", user) & _same(auth.password or "", passwd):
        event("server", f"basic auth: user '{user}' accepted")
        return True
    event("server", f"basic auth: wrong user name or password for '{user}'")
    return False


@bp.get("/basic-auth/<user>/<passwd>")
def basic_auth(user: str, passwd: str) -> Response:
    """Accept HTTP Basic auth for this user and password, or answer 401 with a challenge."""
    if not _basic_ok(user, passwd):
        return status_response(401)  # WWW-Authenticate: Basic makes a browser ask for a login
    return json_response({"authenticated": True, "user": user})


@bp.get("/hidden-basic-auth/<user>/<passwd>")
def hidden_basic_auth(user: str, passwd: str) -> Response:
    """Accept HTTP Basic auth, but answer 404 instead of 401 so the page seems not to exist."""
    if not _basic_ok(user, passwd):
        return status_response(404)  # no challenge: a prober cannot tell the page is there
    return json_response({"authenticated": True, "user": user})


# --- auth: Bearer tokens ---


@bp.get("/bearer")
def bearer() -> Response:
    """Accept any Bearer token (Authorization: Bearer <token>), or answer 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        event("server", "bearer: no 'Authorization: Bearer <token>' header")
        response = Response("", status=401)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response
    # A real API would look the token up or verify its signature; this one only shows
    # where a token travels. The token itself never goes into the record.
    event("server", f"bearer: a token of {len(token)} characters accepted")
    return json_response({"authenticated": True, "token": token})


# --- auth: Digest (RFC 7616) ---
#
# Digest never sends the password. The server sends a challenge (a nonce); the client
# answers with a hash of the user name, password, nonce, method and URI; the server
# computes the same hash from the password it knows and compares.
#
#     HA1      = H(username:realm:password)
#     HA2      = H(method:uri)                     qop=auth
#              = H(method:uri:H(body))             qop=auth-int
#     response = H(HA1:nonce:nc:cnonce:qop:HA2)

DIGEST_REALM = "me@kennethreitz.com"  # httpbin's realm, so recorded exchanges match
DIGEST_HASHES = {"MD5": "md5", "SHA-256": "sha256", "SHA-512": "sha512"}
DIGEST_QOPS = ("auth", "auth-int")
NONCE_SECONDS = 300  # how long a challenge stays valid; an older one is answered stale=true
NONCE_COUNT = re.compile(r"[0-9a-fA-F]{8}")


def _digest_hash(algorithm: str, data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.new(DIGEST_HASHES[algorithm], data).hexdigest()


def _signature(text: str) -> str:
    # The nonce is signed with the app's secret key instead of being stored: the server
    # can recognise its own nonces without keeping any state between requests.
    key = current_app.secret_key
    key = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(key, f"server.digest-nonce:{text}".encode(), "sha256").hexdigest()[:32]


def _new_nonce() -> str:
    issued = f"{int(time.time())}.{secrets.token_hex(8)}"
    return f"{issued}.{_signature(issued)}"


def _nonce_age(nonce: str) -> float | None:
    """Return how old one of our nonces is in seconds, or None if we did not issue it."""
    issued, _, signature = nonce.rpartition(".")
    if not issued or not _same(signature, _signature(issued)):
        return None
    return time.time() - int(issued.split(".")[0])


def _opaque() -> str:
    # Opaque is a value the client must send back unchanged (RFC 7616 3.3).
    return _signature("opaque")


def _challenge(qop: str, algorithm: str, stale: bool = False) -> Response:
    # stale=true: "your password was right, only the nonce is old: retry with this one".
    challenge = (
        f'Digest realm="{DIGEST_REALM}", nonce="{_new_nonce()}", opaque="{_opaque()}", '
        f'qop="{qop}", algorithm={algorithm}, stale={str(stale).lower()}'
    )
    response = Response("", status=401)
    response.headers["WWW-Authenticate"] = challenge
    return response


def _uri_matches(uri: str) -> bool:
    # The hash covers the URI, so a captured answer cannot be replayed on another page.
    try:
        path = unquote(urlsplit(uri).path)
    except ValueError:
        return False
    # endswith: a proxy that strips a prefix (/user/x/proxy/5000) without telling us.
    return path == request.script_root + request.path or path.endswith(request.path)


def _digest_problem(user: str, passwd: str, qop: str, algorithm: str) -> str | None:
    """Return why the Digest credentials are refused ("stale" for an old nonce), or None."""
    auth = request.authorization
    if auth is None or auth.type != "digest":
        return "no Digest credentials sent (this answer carries the challenge)"
    p = auth.parameters
    missing = [
        k
        for k in ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if not p.get(k)
    ]
    if missing:
        return f"Authorization is missing {', '.join(missing)}"
    sent_algorithm = (p.get("algorithm") or "MD5").upper()  # MD5 when left out (RFC 7616)
    if sent_algorithm != algorithm:
        return f"algorithm {sent_algorithm} sent, {algorithm} asked for"
    if p["qop"] != qop or p["realm"] != DIGEST_REALM or not NONCE_COUNT.fullmatch(p["nc"]):
        return "qop, realm or nc do not match the challenge"
    if not _same(p.get("opaque") or "", _opaque()):
        return "opaque was not sent back unchanged"
    if not _uri_matches(p["uri"]):
        return f"uri {p['uri']!r} is not this page"
    age = _nonce_age(p["nonce"])
    if age is None:
        return "the nonce was not issued by this server"
    if age > NONCE_SECONDS:
        return "stale"
    # A real server also remembers each nonce's last nc to refuse replays; this one keeps
    # no state between requests, so a replay within NONCE_SECONDS would pass.
    ha1 = _digest_hash(algorithm, f"{p['username']}:{DIGEST_REALM}:{passwd}")
    a2 = f"{request.method}:{p['uri']}"
    if qop == "auth-int":
        a2 += ":" + _digest_hash(algorithm, request.get_data())
    ha2 = _digest_hash(algorithm, a2)
    expected = _digest_hash(algorithm, f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:{qop}:{ha2}")
    if not (_same(p["username"], user) & _same(p["response"], expected)):
        return "response hash does not match (wrong user name or password)"
    return None


# httpbin's extras, which clients' own test suites rely on. Every answer sets the cookie
# fake=fake_value (with ?require-cookie=1 the client must send it back, to prove its digest
# support keeps cookies between the challenge and the retry). The optional last path part,
# stale_after, counts logins down in the stale_after cookie: when it reaches 0, the next
# answer is a stale challenge ("right password, old nonce: retry with this new one").
# Sending the nonce of a refused attempt again (the last_nonce cookie) is stale too.
FAKE_COOKIE = ("fake", "fake_value")


def _next_stale_after(value: str) -> str:
    # "3" becomes "2"; anything that is not a number means "never stale".
    try:
        return str(int(value) - 1)
    except ValueError:
        return "never"


def _digest_refusal(
    qop: str, algorithm: str, stale_after: str, stale: bool, nonce: str | None
) -> Response:
    """Answer a challenge with httpbin's cookies: stale_after, last_nonce and fake."""
    response = _challenge(qop, algorithm, stale=stale)
    response.set_cookie("stale_after", stale_after, path=cookie_path())
    if nonce is not None:
        response.set_cookie("last_nonce", nonce, path=cookie_path())
    response.set_cookie(*FAKE_COOKIE, path=cookie_path())
    return response


@bp.get("/digest-auth/<qop>/<user>/<passwd>")
def digest_auth_md5(qop: str, user: str, passwd: str) -> Response:
    """Accept HTTP Digest auth with MD5, or answer 401 with a challenge."""
    return digest_auth(qop, user, passwd, "MD5", "never")


@bp.get("/digest-auth/<qop>/<user>/<passwd>/<algorithm>")
def digest_auth_never_stale(qop: str, user: str, passwd: str, algorithm: str) -> Response:
    """Accept HTTP Digest auth with MD5, SHA-256 or SHA-512, or answer 401 with a challenge."""
    return digest_auth(qop, user, passwd, algorithm, "never")


@bp.get("/digest-auth/<qop>/<user>/<passwd>/<algorithm>/<stale_after>")
def digest_auth(qop: str, user: str, passwd: str, algorithm: str, stale_after: str) -> Response:
    """Accept HTTP Digest auth (RFC 7616); after stale_after logins, answer a stale challenge."""
    algorithm = algorithm.upper()
    if algorithm not in DIGEST_HASHES or qop not in DIGEST_QOPS:
        raise InvalidPath(
            "Ask for /server/digest-auth/<qop>/<user>/<passwd>[/<algorithm>[/<stale_after>]] "
            f"with qop {' or '.join(DIGEST_QOPS)} and algorithm {', '.join(DIGEST_HASHES)} "
            f"(got qop {qop!r}, algorithm {algorithm!r})."
        )
    require_cookie = request.args.get("require-cookie", "").lower() in ("1", "t", "true")
    no_cookie = require_cookie and "Cookie" not in request.headers
    auth = request.authorization
    if auth is None or auth.type != "digest" or no_cookie:
        event("server", f"digest auth ({algorithm}, qop={qop}): no credentials, challenge sent")
        return _digest_refusal(qop, algorithm, stale_after, stale=False, nonce=None)
    if require_cookie and request.cookies.get(FAKE_COOKIE[0]) != FAKE_COOKIE[1]:
        event("server", "digest auth: the cookie set with the challenge did not come back, 403")
        response = json_response({"errors": ["missing cookie set on challenge"]}, status=403)
        response.set_cookie(*FAKE_COOKIE, path=cookie_path())
        return response
    nonce = auth.parameters.get("nonce")
    if nonce == request.cookies.get("last_nonce") or request.cookies.get("stale_after") == "0":
        event("server", f"digest auth ({algorithm}, qop={qop}): nonce used up, stale challenge")
        return _digest_refusal(qop, algorithm, stale_after, stale=True, nonce=nonce)
    refused = _digest_problem(user, passwd, qop, algorithm)
    if refused is not None:
        event("server", f"digest auth ({algorithm}, qop={qop}): refused, {refused}")
        return _digest_refusal(qop, algorithm, stale_after, stale=refused == "stale", nonce=nonce)
    event("server", f"digest auth ({algorithm}, qop={qop}): user '{user}' accepted")
    response = json_response({"authenticated": True, "user": user})
    response.set_cookie(*FAKE_COOKIE, path=cookie_path())
    if "stale_after" in request.cookies:
        stale_after = _next_stale_after(request.cookies["stale_after"])
        response.set_cookie("stale_after", stale_after, path=cookie_path())
    return response
