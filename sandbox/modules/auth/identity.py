"""Who is asking: a bearer token in the Authorization header, or else the session cookie.

This is the auth module's answer to the core's question (``sandbox.identity``). Every
decision goes into the request record as an event, so a learner can see why a request
was let in or turned away; no token or password ever does.
"""

from __future__ import annotations

from flask import request, url_for

from sandbox.errors import Unauthorized
from sandbox.identity import Identity
from sandbox.record import event

from . import sessions, tokens

REALM = 'Bearer realm="sandbox"'


class InvalidToken(Unauthorized):
    """A token was sent, and it does not (or no longer) work."""

    title = "Invalid token"


def _refuse(detail: str, description: str) -> InvalidToken:
    # RFC 6750: a refused bearer token says why in WWW-Authenticate, for programs to read.
    return InvalidToken(
        detail,
        headers={
            "WWW-Authenticate": f'{REALM}, error="invalid_token", error_description="{description}"'
        },
    )


class SessionsAndTokens:
    """The identity provider of the auth module."""

    def identify(self) -> Identity | None:
        """Return who sent this request, or None; raise a 401 for a token that does not work.

        A request that sends a token is judged by the token alone: a bad one is refused
        even if a session cookie came along, so a program never acts as someone else.
        """
        header = request.headers.get("Authorization")
        if header is not None:
            return self._from_token(header)
        user = sessions.current()
        if user is None:
            event("auth", "no credentials (no session, no bearer token): nobody", decision="none")
            return None
        event("auth", f"user {user.username}, session, allowed", decision="allowed", via="session")
        return Identity(user.username, role=user.role, via="session", user_id=user.user_id)

    def _from_token(self, header: str) -> Identity:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            # Not even the scheme goes into the event: a token pasted without "Bearer " is all
            # "scheme", and the record must never keep a token.
            event("auth", "Authorization header is not 'Bearer <token>': 401", decision="refused")
            raise _refuse(
                "Send the token as 'Authorization: Bearer <token>'. Make a token with "
                "POST /auth/tokens while logged in.",
                "use the Bearer scheme",
            )
        row = tokens.find(token) if token.startswith(tokens.PREFIX) and len(token) < 200 else None
        if row is None:
            event("auth", "unknown token: 401", decision="refused", token="unknown")
            raise _refuse(
                "This token is not one the sandbox made (mistyped, or from before a reset). "
                "Make a new one with POST /auth/tokens.",
                "unknown token",
            )
        via = f"token '{row['name']}'"
        if row["revoked_at"] is not None:
            event(
                "auth",
                f"user {row['username']}, {via}: token revoked at {row['revoked_at']}, 401",
                decision="refused",
                token="revoked",
            )
            raise _refuse(
                f"This token ({row['name']}) was revoked and works no more. Make a new one with "
                "POST /auth/tokens.",
                "token revoked",
            )
        if tokens.state(row) == "expired":
            event(
                "auth",
                f"user {row['username']}, {via}: token expired at {row['expires_at']}, 401",
                decision="refused",
                token="expired",
            )
            raise _refuse(
                f"This token ({row['name']}) expired at {row['expires_at']}. Make a new one "
                "with POST /auth/tokens.",
                "token expired",
            )
        event(
            "auth",
            f"user {row['username']}, {via} ({row['scope']}), allowed",
            decision="allowed",
            via="token",
        )
        return Identity(
            row["username"], role=row["role"], via=via, scope=row["scope"], user_id=row["user_id"]
        )

    def challenge(self) -> str:
        """Return the WWW-Authenticate value of a 401: a bearer token, in realm "sandbox"."""
        return REALM

    def how_to_log_in(self) -> str:
        """Return how to log in, for the 401 problem the core answers."""
        # A cookie that failed its check is said to have failed, so the learner does not
        # wonder why their login "did not work". No more than the record says: not which
        # byte, nor what a valid signature would be.
        why = {
            "tampered": "your session cookie was rejected: its signature does not match (it "
            "was changed after the server signed it, or signed with another key). Log in "
            "again, or ",
            "expired": "your session has expired. Log in again, or ",
        }.get(request.environ.get(sessions.COOKIE_PROBLEM), "")
        return why + (
            "send 'Authorization: Bearer <token>' (make a token with POST "
            f"{url_for('auth.create_token')}) or log in with POST {url_for('auth.login')} to get a "
            "session cookie."
        )

    def login_url(self, next_url: str) -> str:
        """Return the login page, which comes back to ``next_url`` after a login."""
        return url_for("auth.login_page", next=next_url.rstrip("?"))
