"""API tokens: long random secrets for programs, each with a scope, an expiry and a way to revoke.

A token is made of 32 random bytes (``secrets``, the operating system's randomness),
shown once, and never stored: the table keeps its SHA-256 hash. Whoever steals the
table learns nothing they can send.

Why is a fast hash right here and wrong for passwords? A password is chosen by a
person, so there are few likely ones: an attacker hashes a list of guesses, and a hash
that takes nanoseconds lets them try billions per second. That is why passwords get
scrypt, which is slow on purpose. A token has 256 random bits: there is no list of
likely tokens, and even billions of guesses per second would take longer than the age
of the universe. Slowness would buy nothing, and cost 0.1 s on every API request.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sandbox import db

from .sessions import later

PREFIX = "sbx_"  # a recognisable prefix: secret scanners (and people) can spot a leaked token
SCOPES = ("read", "write")
EXPIRES_MIN = 60  # seconds
EXPIRES_MAX = 90 * 24 * 3600  # 90 days: a token that never expires is a leak that never ends
EXPIRES_DEFAULT = 30 * 24 * 3600
NAME_MAX = 64
ACTIVE_MAX = 20  # tokens a user may hold at once; revoke some to make more


def token_hash(token: str) -> str:
    """Return the SHA-256 of a token, as hex: what the tokens table keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def state(token: dict[str, Any]) -> str:
    """Return whether a token is "active", "expired" or "revoked"."""
    if token["revoked_at"] is not None:
        return "revoked"
    return "expired" if token["expires_at"] <= db.now() else "active"


def shown(token: dict[str, Any]) -> dict[str, Any]:
    """Return a token as a list shows it: everything but a secret, which is not kept anyway."""
    fields = ("id", "name", "scope", "created_at", "expires_at", "revoked_at")
    return {**{k: token[k] for k in fields}, "state": state(token)}


def for_user(user_id: int) -> list[dict[str, Any]]:
    """Return a user's tokens, newest first."""
    rows = (
        db.get_db()
        .execute(
            "select id, name, scope, created_at, expires_at, revoked_at from tokens "
            "where workspace = ? and user_id = ? order by id desc",
            [db.workspace(), user_id],
        )
        .fetchall()
    )
    return [dict(r) for r in rows]


def active_count(user_id: int) -> int:
    """Return how many of a user's tokens still work."""
    return (
        db.get_db()
        .execute(
            "select count(*) from tokens where workspace = ? and user_id = ? "
            "and revoked_at is null and expires_at > ?",
            [db.workspace(), user_id, db.now()],
        )
        .fetchone()[0]
    )


def create(user_id: int, name: str, scope: str, expires_in: int) -> dict[str, Any]:
    """Make a token and return it with its secret: the only time anyone sees the secret."""
    token = PREFIX + secrets.token_urlsafe(32)
    row = {
        "workspace": db.workspace(),
        "user_id": user_id,
        "name": name,
        "scope": scope,
        "token_hash": token_hash(token),
        "created_at": db.now(),
        "expires_at": later(timedelta(seconds=expires_in)),
    }
    cursor = db.get_db().execute(
        "insert into tokens (workspace, user_id, name, scope, token_hash, created_at, expires_at) "
        "values (:workspace, :user_id, :name, :scope, :token_hash, :created_at, :expires_at)",
        row,
    )
    made = shown({**row, "id": cursor.lastrowid, "revoked_at": None})
    return {"id": made["id"], "name": name, "scope": scope, "token": token, **made}


def revoke(user_id: int, token_id: int) -> dict[str, Any] | None:
    """Revoke one of a user's tokens (again is fine); None if they have no such token."""
    conn = db.get_db()
    conn.execute(
        "update tokens set revoked_at = ? where workspace = ? and user_id = ? and id = ? "
        "and revoked_at is null",
        [db.now(), db.workspace(), user_id, token_id],
    )
    row = conn.execute(
        "select id, name, scope, created_at, expires_at, revoked_at from tokens "
        "where workspace = ? and user_id = ? and id = ?",
        [db.workspace(), user_id, token_id],
    ).fetchone()
    return dict(row) if row else None


def find(token: str) -> dict[str, Any] | None:
    """Return the token row (with its owner) for a secret someone sent, or None.

    The lookup is by hash, through the unique index on token_hash. Could its timing leak
    anything? Only about the hash, and an attacker cannot choose what a guess hashes to,
    so it tells them nothing about a real token.
    """
    row = (
        db.get_db()
        .execute(
            "select tokens.id, tokens.name, tokens.scope, tokens.created_at, tokens.expires_at, "
            "tokens.revoked_at, users.id as user_id, users.username, users.role "
            "from tokens join users on users.id = tokens.user_id "
            "where tokens.workspace = ? and tokens.token_hash = ?",
            [db.workspace(), token_hash(token)],
        )
        .fetchone()
    )
    return dict(row) if row else None
