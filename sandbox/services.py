"""Services: the plugs between the core and the modules, each named once, with its shape.

The core asks for a service by name ("where do notes live?", "who is asking?"); a
module that is on answers by providing it (``Module(provides={"note_storage": ...})``)
or by wrapping whichever provider answers (``Module(wraps={"note_storage": ...})``: a
cache in front of the storage). The core never names a module, and a module never names
another: they meet here.

Every service has a :class:`typing.Protocol`, the methods its providers must have. When
a module is registered its providers are checked against them, so a typo
(``provides={"identiy": ...}``) or a missing method stops the start with a message
instead of silently making everyone the guest.

Besides services, the core announces *events* to the modules that are on
(``Module(listens={"note_changed": ...})``): a cache hears that a note it keeps changed.
"""

from __future__ import annotations

import difflib
import sqlite3
import typing
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class NoteStorage(Protocol):
    """Where notes are kept. Every method works within one workspace."""

    name: str

    def writing(self) -> AbstractContextManager[sqlite3.Connection]: ...
    def list(self, workspace: str, query: Any) -> tuple[list[dict[str, Any]], int]: ...
    def get(self, workspace: str, note_id: int, owner: str | None) -> dict[str, Any] | None: ...
    def insert(self, workspace: str, note: dict[str, Any]) -> dict[str, Any]: ...
    def update(
        self, workspace: str, note_id: int, fields: dict[str, Any], owner: str | None
    ) -> dict[str, Any] | None: ...
    def delete(self, workspace: str, note_id: int, owner: str | None) -> bool: ...


@runtime_checkable
class IdentityProvider(Protocol):
    """What a module provides to answer "who is asking?"."""

    def identify(self) -> Any:
        """Return who sent this request (an ``identity.Identity``), or None for nobody."""

    def challenge(self) -> str:
        """Return the WWW-Authenticate value telling a client how to authenticate."""

    def how_to_log_in(self) -> str:
        """Return one sentence telling a learner how to prove who they are."""


@runtime_checkable
class NoteTransform(Protocol):
    """Changes a note on its way into storage and back (encryption of the body, say)."""

    def on_write(self, fields: dict[str, Any]) -> dict[str, Any]: ...
    def on_read(self, note: dict[str, Any]) -> dict[str, Any]: ...


@runtime_checkable
class NoteValidation(Protocol):
    """Decides what a note may be: checked while its module is on, let in while it is off."""

    def validate(self, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        """Return the fields to store, or raise ValidationFailed listing every wrong one."""

    def relaxed(self, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
        """Return the fields to store without refusing any (the module is off)."""


@runtime_checkable
class HttpsServer(Protocol):
    """Makes the server ``python app.py --https`` runs: ``(app, host, port) -> server``."""

    def __call__(self, app: Any, host: str, port: int) -> Any: ...


# Every service, once. ``provides`` and ``wraps`` may name only these.
SERVICES: dict[str, type] = {
    "note_storage": NoteStorage,
    "identity": IdentityProvider,
    "note_transform": NoteTransform,
    "note_validation": NoteValidation,
    "https_server": HttpsServer,
}

# What the core announces, and with which keyword arguments. ``listens`` may name only these.
EVENTS: dict[str, str] = {
    # A note was written or deleted (after its transaction committed).
    # note_id 0: many notes at once (a generated batch).
    "note_changed": "workspace: str, note_id: int, action: 'insert' | 'update' | 'delete'",
    # A workspace was put back to the start (every note, account and switch).
    "workspace_reset": "workspace: str",
}


def _unknown(kind: str, name: str, known: dict[str, Any], module: str, field: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return (
        f"Module {module!r}: {field}={{{name!r}: ...}} names no {kind}.{hint} "
        f"The {kind}s are: {', '.join(known)} (sandbox/services.py)."
    )


def _missing(provider: Any, protocol: type) -> list[str]:
    # Python 3.12 lists a protocol's members in __protocol_attrs__; 3.10 and 3.11 only
    # through typing's own helper.
    members = getattr(protocol, "__protocol_attrs__", None) or typing._get_protocol_attrs(protocol)
    return [name for name in sorted(members) if not hasattr(provider, name)]


def check(
    module: str,
    provides: dict[str, Any],
    wraps: dict[str, Callable[[Any], Any]],
    listens: dict[str, Callable[..., None]],
) -> None:
    """Raise ValueError, naming the fix, if a module plugs into something that is not there."""
    for name, provider in provides.items():
        if name not in SERVICES:
            raise ValueError(_unknown("service", name, SERVICES, module, "provides"))
        if not isinstance(provider, SERVICES[name]):
            missing = ", ".join(_missing(provider, SERVICES[name])) or "its shape"
            raise ValueError(
                f"Module {module!r}: its {name!r} provider lacks {missing}, which every "
                f"{SERVICES[name].__name__} has (sandbox/services.py)."
            )
    for name, wrapper in wraps.items():
        if name not in SERVICES:
            raise ValueError(_unknown("service", name, SERVICES, module, "wraps"))
        if not callable(wrapper):
            raise ValueError(
                f"Module {module!r}: wraps={{{name!r}: ...}} must be a function that takes "
                f"the provider it wraps and returns one with the same methods."
            )
    for name, listener in listens.items():
        if name not in EVENTS:
            raise ValueError(_unknown("event", name, EVENTS, module, "listens"))
        if not callable(listener):
            raise ValueError(f"Module {module!r}: listens={{{name!r}: ...}} must be a function.")
