"""Encryption: making data unreadable without a key

Note bodies encrypted at rest with Fernet (AES and HMAC), the key in the data
dir, key rotation with nothing lost, tampering detected on read, encoding and
hashing and encryption side by side, and signed share links that expire.
Switch it off and bodies are stored as plain text.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask, Response, current_app, request

from sandbox import db
from sandbox.record import Record, event
from sandbox.registry import Module

from . import keys, switch
from .challenges import CHALLENGES
from .openapi import openapi
from .share import share_bp
from .transform import TOKEN_START, cipher, is_token
from .views import bp


def init_app(app: Flask) -> None:
    """Give the app a key ring per workspace, and finish a scrub a crash interrupted."""
    app.extensions["encryption.keys"] = keys.rings(app)
    app.teardown_appcontext(keys.release)
    app.teardown_appcontext(switch.undo_unfinished_switch)
    switch.scrub_if_owed(db.database_path(app))


def point_out_ciphertext(record: Record | None, response: Response) -> None:
    """Say so when the SQL console's answer shows encrypted note bodies."""
    # Runs after every request while the module is on: a cheap test first.
    if record is None or request.endpoint != "sandbox.run_sql" or response.status_code != 200:
        return
    data: Any = response.get_json(silent=True) or {}
    # Every Fernet token starts with these characters (the version byte and the top of the
    # time), so even a cut-off one, substr(body, 1, 40), counts as ciphertext seen.
    tokens = sum(
        isinstance(value, str) and value.startswith(TOKEN_START)
        for row in data.get("rows", [])
        for value in row
    )
    if tokens:
        record.event(
            "encryption",
            f"{tokens} value(s) in this answer are Fernet ciphertext (they start with "
            f"{TOKEN_START}): all the database, and anyone who copies its file, ever sees of "
            "a note body",
            ciphertext_seen=tokens,
        )


def key_files(workspace: str) -> list[str]:
    """Name the workspace's key file, so a snapshot saves it with the notes it decrypts."""
    return [keys.key_file(workspace, current_app.config["SANDBOX_WORKSPACE"])]


def handed_out(conn: Any, workspace: str, files: dict[str, bytes]) -> None:
    """Re-encrypt a hand-out's note bodies under this workspace's own key.

    The instructor's hand-out was encrypted with the key of the workspace it was taken of.
    That key is never copied into a student's workspace: one key shared by a whole room
    would unlock every workspace whose notes it ever encrypted, and rotating it in one
    workspace would break the others. The bodies are decrypted with it here, in memory,
    and encrypted again with the student's key, inside the restore's transaction.
    """
    given = [
        key for text in files.values() for key in keys.keys_in(text.decode("ascii", "replace"))
    ]
    rows = conn.execute("select id, body from notes where workspace = ?", (workspace,)).fetchall()
    encrypted = [(note_id, body) for note_id, body in rows if is_token(body)]
    if not encrypted:
        return
    if not given:
        raise switch.CannotDecrypt(
            "This hand-out holds encrypted notes but not the key they were encrypted with, "
            "so nothing was restored. Ask your instructor to hand it out again."
        )
    ring = keys.ring(workspace)
    ring.create()  # this workspace's own key, made if encryption never was on here
    theirs, mine = MultiFernet([Fernet(k) for k in given]), ring.for_writing()
    try:
        again = [(mine.encrypt(theirs.decrypt(b.encode())).decode(), i) for i, b in encrypted]
    except InvalidToken:
        raise switch.CannotDecrypt(
            "A note of this hand-out fails its check against the hand-out's key (changed "
            "since it was encrypted?), so nothing was restored. Ask your instructor."
        ) from None
    conn.executemany("update notes set body = ? where id = ?", again)
    event("encryption", f"{len(again)} note(s) of the hand-out re-encrypted under your own key")


def make_https_server(app: Flask, host: str, port: int) -> Any:
    """Serve HTTPS (python app.py --https): see tls.py."""
    # Imported when asked for: making certificates needs cryptography's x509 package, a
    # tenth of a second to import, which a sandbox started without --https never pays.
    from .tls import make_https_server as serve_https

    return serve_https(app, host, port)


module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    challenges=CHALLENGES,
    enabled_by_default=False,
    after_request=point_out_ciphertext,
    # https_server: python app.py --https serves through it, whether encryption is on or off.
    provides={"note_transform": cipher, "https_server": make_https_server},
    more_blueprints=(share_bp,),
    init_app=init_app,
    on_toggle=switch.on_toggle,
    after_toggle=switch.after_toggle,
    openapi=openapi,
    snapshot_files=key_files,
    handed_out=handed_out,
)
