"""Identity: who is asking, for every door to the data.

The core does not know how anyone logs in. A module that is on may provide an
``identity`` service (the auth module does: sessions and bearer tokens); with
none, everyone is the one shared guest, who may read and change everything.
The note store asks here before every read and write, so the API and the HTML
pages enforce the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

from .errors import Forbidden, Unauthorized
from .record import event
from .registry import registry


@dataclass(frozen=True)
class Identity:
    """Someone the sandbox recognised, and what they may do."""

    username: str
    role: str = "student"  # "student", "instructor", or "guest" while nobody checks
    via: str = "session"  # how they proved it: "session", "token 'notebook'", ...
    scope: str = "write"  # "read" or "write": a read-only token may not change anything
    user_id: int | None = None

    @property
    def is_guest(self) -> bool:
        return self.role == "guest"


GUEST = Identity("guest", role="guest", via="nobody checks")


def current_identity() -> Identity | None:
    """Return who is asking: the provider's answer, or the guest when none is on."""
    if "sandbox_identity" not in g:
        provider = registry().provided("identity")
        if provider is None:
            name = registry().provider_name("identity")
            event(
                "sandbox",
                f"{name or 'identity'} off: everyone is the shared guest, "
                "who can read and change every note",
                identity="guest",
            )
            g.sandbox_identity = GUEST
        else:
            g.sandbox_identity = provider.identify()
    return g.sandbox_identity


def require_identity(*, write: bool) -> Identity:
    """Return who is asking, or refuse: 401 for nobody, 403 for a read-only token writing."""
    identity = current_identity()
    if identity is None:
        provider = registry().provided("identity")
        raise Unauthorized(
            f"Log in first: {provider.how_to_log_in()}",
            headers={"WWW-Authenticate": provider.challenge()},
        )
    if write and identity.scope != "write":
        event(
            "sandbox",
            f"{identity.username} may only read ({identity.via}): write refused",
            decision="forbidden",
        )
        raise Forbidden(
            f"{identity.via.capitalize()} may only read. Make a token with scope "
            '"write" to change notes.'
        )
    return identity


def owner_filter(identity: Identity) -> str | None:
    """Return whose notes this identity may see: its own, or everyone's for the guest."""
    return None if identity.is_guest else identity.username
