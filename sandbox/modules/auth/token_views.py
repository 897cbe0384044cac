"""The auth module's token routes: make, list and revoke API tokens.

A token is managed by a logged-in session, or by a token with write scope: a read-only
token must not be able to make itself a write token.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Response, jsonify, url_for
from pydantic import AfterValidator, Field

from sandbox.errors import Forbidden, NotFound, SandboxError
from sandbox.identity import Identity, require_identity
from sandbox.notes import MAX_ID
from sandbox.record import event
from sandbox.validation import Body, Whole, json_body, parse

from . import tokens
from .views import bp


class TooManyTokens(SandboxError):
    """A user holds as many working tokens as allowed."""

    status = 409
    title = "Too many tokens"


def token_manager() -> Identity:
    """Return who is asking, if they may manage tokens: a session, or a token with write scope."""
    identity = require_identity(write=False)
    if identity.scope != "write":
        event(
            "auth",
            f"user {identity.username}, {identity.via} (read) may not manage tokens: 403",
            decision="forbidden",
        )
        raise Forbidden(
            f"A read-only token ({identity.via}) cannot manage tokens: it could make itself a "
            'write token. Log in, or use a token with scope "write".'
        )
    return identity


def _token_name(name: str) -> str:
    name = name.strip()
    if not name or not name.isprintable():
        raise ValueError(
            'Give the token a name you will recognise, like "notebook": 1 to 64 printable '
            "characters"
        )
    return name


class TokenRequest(Body):
    """A new token's name, scope and lifetime. Checked whatever the validation module says:
    a token opens the notes it may change."""

    name: Annotated[str, Field(max_length=tokens.NAME_MAX), AfterValidator(_token_name)] = Field(
        description=f'a name you will recognise, like "notebook": 1 to {tokens.NAME_MAX} '
        "printable characters"
    )
    scope: Literal[tuple(tokens.SCOPES)] = Field(  # type: ignore[valid-type]
        "read", description='"read" (look only) or "write" (change notes too)'
    )
    expires_in: Whole = Field(
        tokens.EXPIRES_DEFAULT,
        ge=tokens.EXPIRES_MIN,
        le=tokens.EXPIRES_MAX,
        description=f"seconds from {tokens.EXPIRES_MIN} to {tokens.EXPIRES_MAX} (90 days); "
        f"the default is {tokens.EXPIRES_DEFAULT} (30 days)",
    )


def token_fields(data: dict[str, Any]) -> tuple[str, str, int]:
    """Check a new token's name, scope and lifetime; raise one 422 naming each wrong field."""
    asked = parse(TokenRequest, data)
    return asked.name, asked.scope, asked.expires_in


def make_token(identity: Identity, name: str, scope: str, expires_in: int) -> dict[str, Any]:
    """Make a token for someone, within the limit of working tokens."""
    if tokens.active_count(identity.user_id) >= tokens.ACTIVE_MAX:
        raise TooManyTokens(
            f"You have {tokens.ACTIVE_MAX} working tokens, the most allowed. Revoke one you no "
            "longer use (DELETE /auth/tokens/<id>; GET /auth/tokens lists them)."
        )
    token = tokens.create(identity.user_id, name, scope, expires_in)
    event(
        "auth",
        f"user {identity.username} made token '{name}' ({scope}), expires {token['expires_at']}; "
        "the sandbox keeps only its SHA-256",
        decision="token made",
    )
    return token


@bp.get("/tokens")
def list_tokens() -> dict[str, Any]:
    """List your tokens, with their state and without secrets (no secret is kept)."""
    identity = token_manager()
    return {"tokens": [tokens.shown(t) for t in tokens.for_user(identity.user_id)]}


@bp.post("/tokens")
def create_token() -> Any:
    """Make a token: 201 with its secret, shown this once."""
    identity = token_manager()
    token = make_token(identity, *token_fields(json_body()))
    body = {
        **token,
        "warning": "Copy the token now: the sandbox keeps only its SHA-256 hash and cannot "
        "show it again.",
    }
    return jsonify(body), 201, {"Location": url_for("auth.revoke_token", token_id=token["id"])}


def revoke(identity: Identity, token_id: int) -> None:
    """Revoke one of someone's tokens, or raise a 404 if they have no such token."""
    token = tokens.revoke(identity.user_id, token_id) if token_id <= MAX_ID else None
    if token is None:
        raise NotFound(f"You have no token {token_id}. GET /auth/tokens lists yours.")
    event(
        "auth",
        f"user {identity.username} revoked token '{token['name']}': refused from now on",
        decision="revoked",
    )


@bp.delete("/tokens/<int:token_id>")
def revoke_token(token_id: int) -> Response:
    """Revoke one of your tokens: 204, and from now on it is refused with 401."""
    revoke(token_manager(), token_id)
    return Response(status=204)
