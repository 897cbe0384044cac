"""The encryption module's routes: its state, a key rotation, a demo, a quiz, shared notes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

from cryptography.fernet import Fernet
from flask import Blueprint, current_app
from pydantic import Field

from sandbox import db
from sandbox.classroom import opens_with_link
from sandbox.errors import ValidationFailed
from sandbox.guard import control_plane
from sandbox.record import event
from sandbox.validation import Body, read

from . import keys, rotation, share
from .switch import SCRUB_PENDING
from .transform import TOKEN_START

bp = Blueprint("encryption", __name__, url_prefix="/encryption")

DEMO_TEXT_MAX = 10_000
# What each demo output is, and what it takes to get the text back from it.
DEMO = {
    "base64": (
        "encoding",
        True,
        "reversible by anyone, no key needed: base64.b64decode gives the text back. An "
        "encoding only makes bytes printable; it hides nothing",
    ),
    "sha256": (
        "hash",
        False,
        "not reversible: a hash is one-way. The only way back is guessing inputs until one "
        "hashes the same, which works for short or common texts (so never store passwords "
        "as plain SHA-256)",
    ),
    "hmac_sha256": (
        "keyed hash",
        False,
        "not reversible: one-way like a hash. The key only lets its holder recompute it, to "
        "check that the text was not changed (that is how a cookie or a share link is signed)",
    ),
    "fernet": (
        "encryption",
        True,
        "reversible with the key, and only with it: the key decrypts the token to the text; "
        "without it the token is noise, and a changed byte makes decryption fail instead of "
        "giving wrong text",
    ),
}
REVERSIBLE = sorted(name for name, (_, back, _) in DEMO.items() if back)


def _demo_key(label: str) -> bytes:
    """Derive a demo key from the app's secret: HMAC(secret, workspace and label), 32 bytes."""
    # Its own keys, never the one that protects the notes: an endpoint that encrypts
    # whatever it is sent under the real key would let anyone make genuine ciphertexts.
    # And one per workspace, like the notes' key: classmates never share a key.
    secret = current_app.secret_key.encode()
    context = f"sandbox.encryption.demo.{db.workspace()}.{label}".encode()
    return hmac.new(secret, context, hashlib.sha256).digest()


@bp.get("/status")
def status() -> Any:
    """Show this workspace's key fingerprint and how many of its note bodies are encrypted."""
    ring = keys.ring()  # this workspace's own: nothing here is about a classmate's key
    database = db.get_db()
    # Counted in SQL, without reading every body into Python: a body that starts the way
    # every Fernet token does counts as encrypted.
    total, encrypted = database.execute(
        "select count(*), coalesce(sum(substr(body, 1, 6) = ?), 0) from notes where workspace = ?",
        [TOKEN_START, db.workspace()],
    ).fetchone()
    # The one fact here that is not the workspace's own: the database file is the server's,
    # and so is a scrub it still owes (old plaintext of any workspace's may linger in it).
    owed = database.execute("select 1 from sandbox_meta where key = ?", [SCRUB_PENDING])
    answer: dict[str, Any] = {
        "enabled": True,
        "cipher": "Fernet: AES-128-CBC, then HMAC-SHA256 over the result; timestamped",
        "key_file": ring.name,
        "key_file_exists": ring.exists(),
        "notes_in_database": total,
        "encrypted": encrypted,
        "not_encrypted": total - encrypted,
        "scrub_pending": owed.fetchone() is not None,
    }
    if ring.exists():
        answer["key"] = ring.primary()  # a fingerprint: the key itself never leaves the server
        answer["keys_in_file"] = len(ring.keys())
        if os.name == "posix":
            answer["key_file_mode"] = oct(ring.path.stat().st_mode & 0o777)
    return answer


@bp.post("/rotate")
@control_plane  # beyond loopback, only the operator rotates keys
def rotate() -> Any:
    """Re-encrypt this workspace's note bodies under a new key, then forget the old one."""
    return rotation.rotate()


class DemoRequest(Body):
    """One text to encode, hash, keyed-hash and encrypt."""

    text: str = Field(max_length=DEMO_TEXT_MAX, description=f"up to {DEMO_TEXT_MAX} characters")


class QuizAnswer(Body):
    """Which of the demo's outputs can be turned back into the text."""

    # Any JSON in the list: an unknown name is refused below, with the names that exist.
    reversible: list = Field(description="a list of the demo's output names")


@bp.post("/demo")
def demo() -> Any:
    """Encode, hash, keyed-hash and encrypt one text, side by side."""
    text = read(DemoRequest).text
    raw = text.encode("utf-8")
    outputs = {
        "base64": base64.b64encode(raw).decode("ascii"),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "hmac_sha256": hmac.new(_demo_key("hmac"), raw, hashlib.sha256).hexdigest(),
        "fernet": Fernet(base64.urlsafe_b64encode(_demo_key("fernet")))
        .encrypt(raw)
        .decode("ascii"),
    }
    results = []
    # The forms only: whether each one can be reversed is the quiz's question, so the demo
    # does not answer it (the quiz's feedback says why, for each).
    for name, (kind, _, _) in DEMO.items():
        results.append(
            {
                "name": name,
                "kind": kind,
                "output": outputs[name],
                # Send the same text twice: a hash is always the same, a Fernet token never
                # is (a random IV and the time go into it), which hides repeated notes.
                "same_every_time": name != "fernet",
            }
        )
    results[2]["key"] = "a demo key derived from the app's secret key (never shown)"
    results[3]["key"] = "a demo Fernet key derived from the app's secret key (never shown)"
    event("encryption", "demo: one text encoded, hashed, keyed-hashed and encrypted", demo=True)
    return {
        "text": text,
        "results": results,
        "question": "Which of these can be turned back into the text? POST /encryption/quiz "
        '{"reversible": [names]}',
    }


@bp.post("/quiz")
def quiz() -> Any:
    """Check an answer to "which of the demo's outputs can be reversed?"."""
    chosen = read(QuizAnswer).reversible
    unknown = [c for c in chosen if not isinstance(c, str) or c not in DEMO]
    if unknown:
        raise ValidationFailed(
            [
                {
                    "field": "reversible",
                    "message": f"Name outputs of POST /encryption/demo: {', '.join(DEMO)} "
                    f"(got {str(unknown[0])[:40]!r}).",
                }
            ]
        )
    feedback = []
    for name, (kind, reversible, how) in DEMO.items():
        said = name in chosen
        feedback.append(
            {
                "name": name,
                "you_said": "reversible" if said else "not reversible",
                "right": said == reversible,
                "why": f"{name} is {'an' if kind[0] in 'ae' else 'a'} {kind}: {how}.",
            }
        )
    correct = all(item["right"] for item in feedback)
    event(
        "encryption",
        "quiz answered "
        + ("right" if correct else "with mistakes")
        + f": {', '.join(sorted(set(chosen))) or 'nothing'} marked reversible",
        quiz_correct=correct,
    )
    return {"correct": correct, "feedback": feedback}


@bp.get("/shared/<token>")
@opens_with_link  # in a class, whoever holds the signed link reads the note, like a classmate
def shared_note(token: str) -> Any:
    """Show the note a share link points to, to whoever holds a genuine, unexpired link."""
    # The view argument is named "token", so records keep "/encryption/shared/[redacted]":
    # a link that grants access is a credential, and records never keep credentials.
    note = share.open_link(token)
    # Kept by no browser or proxy cache: the note is private, and when the link expires
    # no stored copy should outlive it.
    return note, 200, {"Cache-Control": "no-store"}
