"""The auth module's challenges, each checked from the request records."""

from __future__ import annotations

from sandbox.registry import Challenge


def _said(record, **data) -> bool:
    """Return whether an event of the record carries all of these fields."""
    return any(all(e.get(k) == v for k, v in data.items()) for e in record.events)


def token_after_401(record, buffer) -> bool:
    """Got the notes with a bearer token after being refused them without credentials."""
    if record.path != "/api/notes" or record.status != 200 or record.method != "GET":
        return False
    if not _said(record, decision="allowed", via="token"):
        return False
    return any(r.path == "/api/notes" and r.status == 401 for r in buffer.recent(100))


def not_yours(record, buffer) -> bool:
    """Asked for a note that exists but is someone else's, and got a 404."""
    return (
        record.status == 404
        and record.method == "GET"
        and record.path.startswith("/api/notes/")
        and _said(record, decision="not yours")
    )


def tampered(record, buffer) -> bool:
    """Sent a session cookie that failed its signature check, and was refused."""
    return record.status == 401 and _said(record, cookie="tampered")


def revoked(record, buffer) -> bool:
    """Sent a revoked token and was refused."""
    return record.status == 401 and _said(record, token="revoked")


CHALLENGES = (
    Challenge(
        id="auth.token",
        title="Be refused, then let in with a bearer token",
        hint="With auth on, GET /api/notes with no credentials (401), then log in, make a token "
        "with POST /auth/tokens and GET /api/notes with Authorization: Bearer <token>.",
        check=token_after_401,
    ),
    Challenge(
        id="auth.not_yours",
        title="Be refused someone else's note",
        hint="Register two users; as the first, POST a note to /api/notes; as the second, "
        "GET /api/notes/<its id>: a 404, exactly as for a note that does not exist.",
        check=not_yours,
    ),
    Challenge(
        id="auth.throttled",
        title="Get throttled for guessing passwords",
        hint="POST /auth/login with a wrong password for the same username until the answer "
        "is 429 Too Many Requests, and read its Retry-After header.",
        check=lambda record, buffer: record.path == "/auth/login" and record.status == 429,
    ),
    Challenge(
        id="auth.tampered",
        title="Change your session cookie and be caught",
        hint="Log in, change one character in the middle of the session cookie, and GET "
        "/auth/me with it: the signature no longer matches, so the answer is 401.",
        check=tampered,
    ),
    Challenge(
        id="auth.revoked",
        title="Be refused with a revoked token",
        hint="Make a token (POST /auth/tokens), revoke it (DELETE /auth/tokens/<id>), then "
        "send it again, e.g. to GET /auth/me: 401.",
        check=revoked,
    ),
)
