"""The encryption module's challenges, each checked from the request records.

Checks run after every request, so each one returns False at once when the
record is not about it.
"""

from __future__ import annotations

from sandbox.record import Record, RecordBuffer
from sandbox.registry import Challenge


def _event(record: Record, key: str) -> dict | None:
    return next((e for e in record.events if key in e), None)


def saw_ciphertext(record: Record, buffer: RecordBuffer) -> bool:
    """Read note bodies through the SQL console while encryption was on, and got tokens."""
    return record.path == "/sandbox/sql" and _event(record, "ciphertext_seen") is not None


def rotated_without_loss(record: Record, buffer: RecordBuffer) -> bool:
    """Rotated the key, and every encrypted note decrypts with the new key."""
    if record.path != "/encryption/rotate" or record.status != 200:
        return False
    found = _event(record, "readable_with_new_key")
    return (
        found is not None
        and found["lost"] == 0
        and found["readable_with_new_key"] == found["notes"]
    )


def broke_a_link(record: Record, buffer: RecordBuffer) -> bool:
    """Had a share link refused as tampered."""
    return (
        record.path.startswith("/encryption/shared/")
        and record.status == 400
        and _event(record, "tampered_link") is not None
    )


def told_hash_from_encryption(record: Record, buffer: RecordBuffer) -> bool:
    """Saw the demo's four outputs, then named exactly the reversible ones."""
    if record.path != "/encryption/quiz" or record.status != 200:
        return False
    answer = _event(record, "quiz_correct")
    if answer is None or not answer["quiz_correct"]:
        return False
    return any(r.path == "/encryption/demo" and r.status == 200 for r in buffer.recent(100))


CHALLENGES = (
    Challenge(
        id="encryption.ciphertext",
        title="Find ciphertext in the database",
        hint="Switch encryption on, then read the note bodies with the SQL console: "
        'POST /sandbox/sql {"sql": "select id, body from notes"} or sb.sql(...).',
        check=saw_ciphertext,
    ),
    Challenge(
        id="encryption.rotate",
        title="Rotate the key with nothing lost",
        hint="With encryption on, POST /encryption/rotate; every note must still read back.",
        check=rotated_without_loss,
    ),
    Challenge(
        id="encryption.tampered_link",
        title="Break a share link by tampering with it",
        hint="POST /api/notes/1/share, change one character of the token in the url it "
        "answers, and GET it: a 400 says the signature no longer matches.",
        check=broke_a_link,
    ),
    Challenge(
        id="encryption.hash_vs_encrypt",
        title="Tell a hash from an encryption",
        hint='POST /encryption/demo {"text": "..."}, then answer which outputs can be '
        'reversed: POST /encryption/quiz {"reversible": [...]}.',
        check=told_hash_from_encryption,
    ),
)
