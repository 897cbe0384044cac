"""Encryption: making data unreadable without a key

Note bodies encrypted at rest with Fernet (AES and HMAC), the key in the data
dir, key rotation with nothing lost, tampering detected on read, encoding and
hashing and encryption side by side, and signed share links that expire.
Switch it off and bodies are stored as plain text.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, request

from sandbox import db
from sandbox.record import Record
from sandbox.registry import Module

from . import keys, switch
from .challenges import CHALLENGES
from .openapi import openapi
from .share import share_bp
from .transform import TOKEN_START, cipher
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
)
