"""The note transform: encrypt a body on its way into storage, decrypt it on its way out.

The note store runs ``on_write`` and ``on_read`` of every module that is on, so
while encryption is on no body reaches the database as plain text, and the
owner still reads plain text through the API. "On" as of the write's own
transaction, which holds the lock a switch needs (see ``_writing`` in
sandbox/notes.py): no note is left out of a switch, or encrypted twice.

Titles and tags are left alone: a list needs to sort by title and filter by tag,
which SQL cannot do on ciphertext. (The price of encrypting bodies: a search
with ``q`` no longer finds words in them: the database only ever sees ciphertext.)

Why Fernet: it is *authenticated* encryption in one call, so a changed byte is
detected rather than decrypted into garbage, and ``MultiFernet`` rotates keys.
What it does not do: bind a ciphertext to its row. Someone who can write to the
database could copy note 1's body into note 2, and it would decrypt fine. An
AEAD cipher such as AES-GCM with the note's id as "associated data" would catch
that too; Fernet keeps the code simple enough to read in one sitting.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography.fernet import InvalidToken
from flask import g

from sandbox.errors import SandboxError
from sandbox.record import current_record, event

from . import keys

# A Fernet token is URL-safe base64 of: version byte 0x80, 8-byte time, 16-byte IV,
# the ciphertext (a whole number of 16-byte AES blocks, at least one), 32-byte HMAC.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_OVERHEAD = 1 + 8 + 16 + 32
TOKEN_START = "gAAAAA"  # 0x80 and the time's zero high bytes, in base64 (until the year 2106)


def is_token(text: Any) -> bool:
    """Return whether a text has the exact shape of a Fernet token (not whether it is genuine)."""
    if not isinstance(text, str) or len(text) < 100 or len(text) % 4 or text[0] != "g":
        return False
    if not _BASE64URL.fullmatch(text):
        return False
    try:
        raw = base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        return False
    return raw[0] == 0x80 and len(raw) > _OVERHEAD and (len(raw) - _OVERHEAD) % 16 == 0


class NoteTampered(SandboxError):
    """A stored ciphertext failed its integrity check."""

    # Why 500: the request is fine and resending it cannot help (so no 4xx), and the failure
    # is not temporary (so no 503). The server cannot vouch for data it stored: that is a
    # server-side failure, and one that should page whoever runs it, which a 5xx does.
    # The problem's detail, and the record's event, say exactly why.
    status = 500
    title = "Note failed its integrity check"


def refuse_tampered(note_id: Any) -> NoteTampered:
    """Note in the record why a body is refused, and build the problem that says so."""
    event(
        "encryption",
        f"note {note_id}: its ciphertext fails the HMAC check (changed outside the sandbox, "
        "or encrypted with a key this sandbox does not have): refused, not shown",
        tampered=True,
        note=note_id,
    )
    return NoteTampered(
        f"The body of note {note_id} was changed outside the sandbox (or encrypted with a key "
        "this sandbox does not have): its ciphertext fails Fernet's HMAC check, so the sandbox "
        "refuses to decrypt it rather than show text it cannot vouch for. Put back the "
        f"original ciphertext, or delete the note with DELETE /api/notes/{note_id}.",
        note=note_id,
    )


def _tally(message: str, **data: Any) -> None:
    """Keep one event per request for the notes it decrypted, with their count."""
    record = current_record()
    if record is None:
        return
    entry = g.get("encryption_tally")
    if entry is None:
        record.event("encryption", "", notes=0, **data)
        entry = g.encryption_tally = record.events[-1]  # the same dict: updated in place
    entry["notes"] += 1
    entry["message"] = message.format(
        n=entry["notes"], bodies="body" if entry["notes"] == 1 else "bodies"
    )


class NoteCipher:
    """Encrypt note bodies before they are stored; decrypt them when they are read."""

    # Said in the record of every note written while the module is off (the core adds it).
    when_off = "note bodies are stored as plain text, readable by anyone with the database file"

    def on_write(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Replace the body with its Fernet token (a change that leaves the body alone passes)."""
        if "body" not in fields:
            return fields
        fernet = keys.ring().for_writing()
        token = fernet.encrypt(fields["body"].encode("utf-8")).decode("ascii")
        event(
            "encryption",
            f"body encrypted before it is stored: {len(fields['body'])} characters in, "
            f"a Fernet token of {len(token)} characters out (key {keys.ring().primary()})",
            encrypted=True,
        )
        return {**fields, "body": token}

    def on_read(self, note: dict[str, Any]) -> dict[str, Any]:
        """Return the note with its body decrypted, or refuse a body that fails its check."""
        body = note.get("body")
        if not is_token(body):
            # Not even the shape of a token: written around the note store (sb.db, say)
            # while encryption was on. Shown as it is, and said, never silently.
            event(
                "encryption",
                f"note {note.get('id')}: its body is not encrypted (written around the note "
                "store?); shown as stored",
                plaintext_found=note.get("id"),
            )
            return note
        try:
            plain = _request_fernet().decrypt(body.encode("ascii"))
        except InvalidToken:
            raise refuse_tampered(note.get("id")) from None
        _tally("decrypted {n} note {bodies} read from storage", decrypted=True)
        return {**note, "body": plain.decode("utf-8")}


def _request_fernet() -> Any:
    """Return the key ring's MultiFernet, looked up once per request.

    A page of notes means many decryptions; asking the key ring each time would check the
    key file (a system call) for every note.
    """
    if "encryption_fernet" not in g:
        g.encryption_fernet = keys.ring().fernet()
    return g.encryption_fernet


cipher = NoteCipher()
