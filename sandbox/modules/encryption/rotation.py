"""Key rotation: a new key for every note, with no moment where a note cannot be read.

Why rotate at all: a key that may have leaked (a laptop lost, a colleague gone)
should stop protecting anything, and a key used for years has had years to leak.
Each workspace has its own key (see keys.py): a rotation replaces this workspace's
key and re-encrypts this workspace's notes, and no other's.

The order is what makes it safe, at every step a crash could interrupt:

1. Write the key file with both keys, the new one first. New writes now use the
   new key; every note is still readable (a crash here loses nothing).
2. Re-encrypt every note in one transaction (``MultiFernet.rotate``): all of
   them under the new key, or (after a crash) none, and both keys still work.
3. Wait for requests that encrypted with the old key just before step 1 to
   finish, then, holding the database's write lock, re-encrypt any note they
   wrote and rewrite the key file with the new key alone.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from sandbox import db, notes
from sandbox.errors import SandboxError
from sandbox.record import event

from . import keys
from .switch import CannotDecrypt
from .transform import is_token


class RotationBusy(SandboxError):
    """A request still writing with the old key did not finish in time."""

    # 503 with Retry-After: nothing is wrong and nothing is lost, the server is just
    # busy; the same request a moment later will succeed.
    status = 503
    title = "Rotation not finished"


def _encrypted_notes(conn: sqlite3.Connection, workspace: str) -> list[tuple[Any, str]]:
    """Return (id, body) of the workspace's notes: the ones its key encrypts."""
    # Every workspace has a key of its own, so a rotation changes one workspace's notes
    # and no other's: a classmate's notes are under a key this rotation never touches.
    return conn.execute("select id, body from notes where workspace = ?", (workspace,)).fetchall()


def _rotate(rows: list[tuple[Any, str]], fernet: MultiFernet, new: Fernet) -> dict[Any, str]:
    """Return {id: new token} for every encrypted body not yet under the new key alone."""
    changed, unreadable = {}, []
    for note_id, body in rows:
        if not is_token(body):
            continue  # not encrypted (written around the note store): no key to change
        try:
            new.decrypt(body.encode())
            continue  # already under the new key alone
        except InvalidToken:
            pass
        try:
            # rotate(): decrypt with whichever key works, encrypt with the first; the
            # token keeps its original timestamp.
            changed[note_id] = fernet.rotate(body.encode()).decode()
        except InvalidToken:
            unreadable.append(note_id)
    if unreadable:
        raise CannotDecrypt(
            f"Note(s) {', '.join(map(str, unreadable[:10]))} cannot be decrypted with any key "
            "(tampered, or encrypted with a key this sandbox does not have). Rotating now "
            "would leave them behind, so no note was changed and the old key is kept. Put "
            "back their original ciphertext or delete them (DELETE /api/notes/<id>), then "
            "rotate again.",
            notes=unreadable[:10],
        )
    return changed


def _memory_rows(workspace: str) -> list[tuple[Any, str]]:
    items, _ = notes.memory().list(workspace, notes.Query(limit=10**9))
    return [(("memory", n["id"]), n["body"]) for n in items]


def _pass(
    conn: sqlite3.Connection, workspace: str, fernet: MultiFernet, new: Fernet
) -> tuple[set, int]:
    """Re-encrypt what needs it, in the open transaction; return (ids changed, encrypted)."""
    rows = _encrypted_notes(conn, workspace) + _memory_rows(workspace)
    changed = _rotate(rows, fernet, new)
    conn.executemany(
        "update notes set body = ? where id = ?",
        [(token, i) for i, token in changed.items() if not isinstance(i, tuple)],
    )
    for key, token in changed.items():
        if isinstance(key, tuple):  # a note in this server's memory (the database module off)
            notes.memory().update(workspace, key[1], {"body": token}, None)
    return set(changed), sum(1 for _, body in rows if is_token(body))


def rotate() -> dict[str, Any]:
    """Replace this workspace's key: re-encrypt its notes under a new one, forget the old."""
    workspace = db.workspace()
    ring = keys.ring(workspace)
    old = ring.keys()
    key = Fernet.generate_key()
    new = Fernet(key)
    ring.write([key, *old])  # step 1
    fernet = MultiFernet([new, *(Fernet(k) for k in old)])
    conn = db.get_db().conn
    with conn:  # step 2: one transaction
        conn.execute("BEGIN IMMEDIATE")
        rotated, _ = _pass(conn, workspace, fernet, new)
    if not ring.wait_for_writers(keep=keys.fingerprint(key), timeout=10):  # step 3
        raise RotationBusy(
            "Every note is now encrypted with the new key, but a request that encrypted with "
            "the old one is still running, so both keys are kept for now. Nothing is lost: "
            "send POST /encryption/rotate again in a moment.",
            headers={"Retry-After": "1"},
        )
    with conn:
        conn.execute("BEGIN IMMEDIATE")  # no note can be written until the file is rewritten
        # After this pass, every body decrypts with the new key.
        late, total = _pass(conn, workspace, fernet, new)
        ring.write([key])
    result = {
        "rotated": len(rotated | late),
        "notes": total,
        "readable_with_new_key": total,
        "lost": 0,
        "key": keys.fingerprint(key),
        "retired": [keys.fingerprint(k) for k in old],
        "key_file": ring.name,
    }
    event(
        "encryption",
        f"key rotated: {result['rotated']} of {total} encrypted note bodies re-encrypted "
        f"with the new key {result['key']}; the old key is gone from {ring.name}",
        **{k: result[k] for k in ("rotated", "notes", "readable_with_new_key", "lost", "key")},
    )
    return result
