"""Switching encryption on and off: every note changes with the switch, or none does.

``on_toggle`` runs inside the very transaction that flips the switch, so a crash
half-way (the power fails, the process is killed) rolls back both: after a
restart the switch and every body are as they were before. There is never a
database with some bodies encrypted and others not.

A committed transaction is not the end of it, though. SQLite does not erase what
it replaces: the old plaintext pages live on in free pages of the file and as
old page versions in the write-ahead log (``sandbox.db-wal``). ``after_toggle``
scrubs them, and until it has, a flag in ``sandbox_meta`` says a scrub is owed,
so a crash before it finishes is finished at the next start.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import InvalidToken
from flask import g

from sandbox import db, notes
from sandbox.errors import SandboxError
from sandbox.record import event

from . import keys
from .transform import is_token

SCRUB_PENDING = "encryption.scrub_pending"
BATCH = 500  # notes read and rewritten per statement: bounded memory for any number of notes


class CannotDecrypt(SandboxError):
    """Switching off would have to decrypt a body that fails its check."""

    # 409 Conflict: the request is fine, but the data's state stands in its way, and the
    # learner can change that state (restore or delete the note) and try again.
    status = 409
    title = "Some notes cannot be decrypted"


def on_toggle(conn: sqlite3.Connection, workspace: str, enabled: bool) -> None:
    """Encrypt (on) or decrypt (off) every body of the workspace, in the switch's transaction."""
    # The core has begun the transaction with the write lock held, and calls this only when
    # the stored state really changes: no other writer can slip a note in between. (The note
    # store takes the same lock before it decides whether to encrypt a note: see notes.py.)
    # secure_delete: the bytes of every plaintext body this transaction replaces are
    # overwritten with zeros, instead of staying behind in the page as free space.
    conn.execute("PRAGMA secure_delete=ON")
    # The ring of the workspace being switched, named: every workspace has a key of its own.
    ring = keys.ring(workspace)
    if enabled:
        ring.create()  # made the first time encryption is switched on in this workspace
        fernet = ring.for_writing()

        def encrypt(_: Any, body: str) -> str:
            # Every body, even one that happens to look like a token: with the switch off,
            # every body is plain text by definition, so there is nothing to guess.
            return fernet.encrypt(body.encode()).decode()

        changed = _rewrite(conn, workspace, encrypt)
        in_memory = _memory_changes(workspace, encrypt)
        # Owed until after_toggle has scrubbed the file; a crash before then is caught at start.
        conn.execute(
            "insert or replace into sandbox_meta (key, value) values (?, ?)",
            (SCRUB_PENDING, db.now()),
        )
        changed += _change_memory(workspace, in_memory)
        event(
            "encryption",
            f"encrypted {changed} note bodies in the same transaction as the switch: "
            f"all of them or, after a crash, none (key {ring.primary()})",
            encrypted_notes=changed,
        )
        return
    unreadable: list[Any] = []

    def decrypt(note_id: Any, body: str) -> str | None:
        if not is_token(body):
            return None  # plain already (written around the note store): leave it
        try:
            return ring.fernet().decrypt(body.encode()).decode()
        except InvalidToken:
            unreadable.append(note_id)
            return None

    changed = _rewrite(conn, workspace, decrypt)
    in_memory = _memory_changes(workspace, decrypt)
    if unreadable:
        # Raising rolls back the transaction, so the database is as it was; memory was not
        # touched yet, so it is as it was too, and the answer can say "Nothing was changed".
        ids = ", ".join(str(i) for i in unreadable[:10])
        raise CannotDecrypt(
            f"Switching encryption off would have to decrypt every note body, but note(s) "
            f"{ids} fail the integrity check (tampered, or encrypted with another key). "
            "Nothing was changed. Put back their original ciphertext or delete them "
            "(DELETE /api/notes/<id>), then switch again.",
            notes=unreadable[:10],
        )
    changed += _change_memory(workspace, in_memory)
    event(
        "encryption",
        f"decrypted {changed} note bodies in the same transaction as the switch",
        decrypted_notes=changed,
    )


def _rewrite(
    conn: sqlite3.Connection, workspace: str, change: Callable[[Any, str], str | None]
) -> int:
    """Apply ``change`` to every stored body of the workspace (None: leave it); count changes."""
    changed, last = 0, 0
    while True:  # in batches by id, so a million notes never sit in memory at once
        rows = conn.execute(
            "select id, body from notes where workspace = ? and id > ? order by id limit ?",
            (workspace, last, BATCH),
        ).fetchall()
        if not rows:
            break
        updates = []
        for note_id, body in rows:
            new = change(note_id, body)
            if new is not None:
                updates.append((new, note_id))
        conn.executemany("update notes set body = ? where id = ?", updates)
        changed += len(updates)
        last = rows[-1][0]
    return changed


# Notes kept in this server's memory (the database module off) change along with the switch.
# Memory is not part of the transaction: a rollback cannot undo a change made there. So the
# new bodies are worked out first, while the SQL pass may still fail, and put in place only
# once nothing can fail any more but the commit itself; should even that fail, the request's
# teardown puts the old bodies back (undo_unfinished_switch). All of it or nothing, in both.


def _memory_changes(
    workspace: str, change: Callable[[Any, str], str | None]
) -> dict[int, tuple[str, str]]:
    """Return ``{id: (old body, new body)}`` for the notes in memory, changing nothing yet."""
    kept, _ = notes.memory().list(workspace, notes.Query(limit=10**9))
    changes = {}
    for note in kept:
        new = change(note["id"], note["body"])
        if new is not None:
            changes[note["id"]] = (note["body"], new)
    return changes


def _change_memory(workspace: str, changes: dict[int, tuple[str, str]]) -> int:
    """Put the new bodies in memory, and keep what undoes them until the switch commits."""
    g.encryption_memory_undo = (workspace, {i: (new, old) for i, (old, new) in changes.items()})
    return notes.memory().replace_bodies(workspace, changes)


def undo_unfinished_switch(error: BaseException | None = None) -> None:
    """Put memory bodies back if the switch that changed them did not commit."""
    unfinished = g.pop("encryption_memory_undo", None)
    if unfinished is None:
        return  # no switch in this request, or it committed (after_toggle said so)
    workspace, undo = unfinished
    # Only bodies still as the switch left them: a note written since is newer than both.
    restored = notes.memory().replace_bodies(workspace, undo)
    event(
        "encryption",
        f"the switch did not commit: {restored} note bodies in memory put back as they were",
        memory_restored=restored,
    )


def after_toggle(database_path: Path, enabled: bool) -> None:
    """Once the switch is committed: scrub old plaintext from the files, or say bodies are plain."""
    g.pop("encryption_memory_undo", None)  # committed: the memory bodies stay as they are
    if enabled:
        scrub(database_path)
    else:
        event(
            "encryption",
            "encryption off: note bodies are stored as plain text from now on, readable by "
            "anyone who can read the database file",
        )


def scrub(database_path: Path) -> bool:
    """Leave no plaintext body in the database files: VACUUM, then an empty write-ahead log."""
    conn = db.connect(database_path)  # traced: the record shows each of these statements
    try:
        # On this connection too: whatever it frees is overwritten with zeros.
        conn.execute("PRAGMA secure_delete=ON")
        # VACUUM rebuilds the database from its live rows alone, so free pages (where
        # deleted and replaced plaintext bodies linger) and slack space inside pages are
        # gone. In WAL mode it writes the rebuilt pages through the -wal file, like any write.
        conn.execute("VACUUM")
        # The -wal file still holds old versions of pages, plaintext among them, until a
        # checkpoint copies the newest versions into sandbox.db; and SQLite reuses a WAL
        # from its start without shortening it, so old frames past the end linger too.
        # TRUNCATE checkpoints everything and cuts the file to zero bytes.
        if not _truncate_wal(conn):
            return False
        with conn:
            conn.execute("delete from sandbox_meta where key = ?", (SCRUB_PENDING,))
        _truncate_wal(conn)  # the delete above wrote a page to the WAL: empty it again
    except sqlite3.OperationalError as error:  # locked by another writer for too long
        event(
            "encryption",
            f"could not scrub the database files yet ({error}): old plaintext may linger in "
            "free pages or the WAL; the sandbox tries again at its next start",
            scrubbed=False,
        )
        return False
    finally:
        conn.close()
    event(
        "encryption",
        "scrubbed the database files: VACUUM rebuilt sandbox.db from live rows only, and the "
        "write-ahead log was checkpointed and truncated to 0 bytes",
        scrubbed=True,
    )
    return True


def _truncate_wal(conn: sqlite3.Connection) -> bool:
    busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if busy:  # a reader still uses old pages: they cannot be dropped yet
        event(
            "encryption",
            "could not truncate the write-ahead log: another connection is still reading "
            "old pages; the sandbox tries again at its next start",
            scrubbed=False,
        )
    return not busy


def scrub_if_owed(database_path: Path) -> None:
    """Finish a scrub that a crash interrupted (called when the server starts)."""
    conn = db.connect(database_path, traced=False)
    try:
        owed = conn.execute("select 1 from sandbox_meta where key = ?", (SCRUB_PENDING,)).fetchone()
    finally:
        conn.close()
    if owed:
        scrub(database_path)
