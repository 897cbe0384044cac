"""Share links: a signed, expiring URL that shows one note to whoever holds it.

The link carries its own permission: ``{"note": 5, "owner": "ada", ...}``
followed by a signature (an HMAC made with the app's secret key, by
itsdangerous). Anyone can *read* what is in it (signed is not encrypted: paste
one into a base64 decoder); nobody without the secret can *change* it, because
the signature would no longer match. So the server stores nothing per link:
checking the signature is the whole lookup.

The link also names its workspace, signed like the rest. In class mode every
student's sandbox shares one secret key, so the signature alone would let a link
made in Ada's workspace open a note in Bob's, were it sent to Bob's URL; the
signed workspace is what refuses that.

The price: a link cannot be taken back before it expires (there is no row to
delete), which is why links expire, after one day unless asked otherwise and
after seven days at most.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, current_app, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import Field

from sandbox import db, notes
from sandbox.errors import NotFound, SandboxError
from sandbox.record import event
from sandbox.validation import Body, Whole, json_body, parse

# The share route lives under /api with the other note routes, but belongs to this module:
# the registry maps this blueprint to it, so with encryption off it answers 404 module-off.
share_bp = Blueprint("encryption_share", __name__, url_prefix="/api")

# A salt of its own: a signature made for a share link is worthless as a session
# cookie, and the other way round, although one secret key signs both.
SALT = "sandbox.encryption.share-link"
DEFAULT_SECONDS = 24 * 3600
_TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
MAX_SECONDS = 7 * 24 * 3600


class LinkTampered(SandboxError):
    """A share link whose signature does not match: changed, cut short, or made up."""

    status = 400
    title = "Tampered link"


class LinkElsewhere(SandboxError):
    """A genuine share link, made in another workspace than the one it was sent to."""

    # 404 like a note that is not there: in this workspace, the link points at nothing.
    # Not 400 "tampered": the signature is fine, the link was only sent to the wrong place.
    status = 404
    title = "Link from another workspace"


class LinkExpired(SandboxError):
    """A genuine share link past its expiry time."""

    # 410 Gone rather than 404: the link did exist and will never work again, so a
    # client (or a cache) should stop retrying; no credential would help, so no 401/403.
    status = 410
    title = "Link expired"


def serializer() -> URLSafeTimedSerializer:
    """Return the signer of share links, keyed with the app's secret key and its own salt."""
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def make_token(note: dict[str, Any], expires: int) -> str:
    """Sign a link to a note, valid until ``expires`` (seconds since the epoch)."""
    payload = {
        "note": note["id"],
        "owner": note["owner"],
        "workspace": db.workspace(),
        "expires": expires,
    }
    return serializer().dumps(payload)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")


class ShareRequest(Body):
    """How long a share link works."""

    # A whole number: JSON does not tell 60 from 60.0, so neither do we.
    expires_in: Whole = Field(
        DEFAULT_SECONDS,
        ge=1,
        le=MAX_SECONDS,
        description="seconds the link works for: 1 day unless asked, 7 days at most",
    )


@share_bp.post("/notes/<int:note_id>/share")
def share_note(note_id: int) -> Any:
    """Make a signed link that shows one note to anyone who has it, until it expires."""
    data = json_body() if request.get_data(cache=True).strip() else {}  # a body is optional
    seconds = parse(ShareRequest, data).expires_in
    note = notes.get_note(note_id)  # a 404 unless whoever asks may read this note
    expires = int(time.time()) + seconds
    token = make_token(note, expires)
    event(
        "encryption",
        f"share link for note {note_id} signed, valid until {_iso(expires)}: anyone "
        "holding it can read the note, so it is redacted from records",
        shared=note_id,
    )
    return {
        "url": url_for("encryption.shared_note", token=token, _external=True),
        "note_id": note_id,
        "expires_in": seconds,
        "expires_at": _iso(expires),
    }


def open_link(token: str) -> dict[str, Any]:
    """Return the note a genuine, unexpired link shows; refuse anything else with a problem."""
    try:
        # Only the characters a link of ours is made of: base64 decoding skips any others,
        # so "ab\u200bc" would otherwise pass as the same link, spelled another way.
        if not _TOKEN_CHARACTERS.fullmatch(token):
            raise BadSignature("not a share link's characters")
        # The signature is checked first: an expiry time nobody signed means nothing.
        # max_age is a backstop: no link of ours lives longer than seven days.
        payload = serializer().loads(token, max_age=MAX_SECONDS + 60)
    except SignatureExpired:
        raise _expired(None) from None
    except BadSignature:
        event(
            "encryption",
            "share link refused: its signature does not match its content (tampered)",
            tampered_link=True,
        )
        raise LinkTampered(
            "This share link was tampered with: its signature does not match its content, "
            "so it was changed, cut short or made up. Use the link exactly as you were "
            "given it, or ask the note's owner for a new one."
        ) from None
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("note"), int)
        and isinstance(payload.get("owner"), str)
        and isinstance(payload.get("expires"), int)
    ):
        raise LinkTampered("This link is signed but is not a share link. Ask for a new one.")
    if time.time() > payload["expires"]:
        raise _expired(payload["expires"])
    if payload.get("workspace") != db.workspace():
        raise _elsewhere()
    note = notes.find_note(payload["note"], payload["owner"])
    if note is None:
        raise NotFound("The note this link shares no longer exists: it was deleted.")
    event(
        "encryption",
        f"share link checked: signature good, valid until {_iso(payload['expires'])}; "
        f"note {note['id']} shown to whoever holds it",
        shared=note["id"],
    )
    return {
        **{k: note[k] for k in ("id", "title", "body", "tags", "created_at", "updated_at")},
        "shared_by": note["owner"],
        "expires_at": _iso(payload["expires"]),
    }


def _elsewhere() -> LinkElsewhere:
    event(
        "encryption",
        "share link refused: genuine, but made in another workspace; a link opens notes "
        "only in the workspace that signed it",
        foreign_link=True,
    )
    return LinkElsewhere(
        "This share link was made in another workspace, and a link opens a note only in the "
        "workspace it was made in: its signature covers that workspace, so it cannot be "
        "changed. Open the link exactly as you were given it (its full URL)."
    )


def _expired(expires: int | None) -> LinkExpired:
    when = f" at {_iso(expires)}" if expires else ""
    event("encryption", f"share link refused: genuine, but it expired{when}", expired_link=True)
    return LinkExpired(
        f"This share link expired{when}. Links are valid for a limited time; ask the "
        "note's owner for a new one (POST /api/notes/<id>/share)."
    )
