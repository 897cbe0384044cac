"""A cache in front of the note storage, whichever storage is on (SQLite or memory).

The module *wraps* the ``note_storage`` service (``Module(wraps=...)``): the core asks
for the storage and gets this object, which answers reads from the cache when it can
and passes everything else through. Writes are never cached; the core tells the module
about them afterwards (``listens={"note_changed": ...}``) and the cached copies they made
stale become unreachable.
"""

from __future__ import annotations

from typing import Any

from sandbox.record import event

from .cache import (
    LARGEST_PAGE,
    forget_workspace,
    invalidate,
    list_key,
    lookup,
    note_key,
    options,
    stale,
)


class CachedStorage:
    """The storage it wraps, with a cache in front of ``get`` and ``list``."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.name = inner.name  # the record still says which storage the notes are in

    def writing(self):
        return self.inner.writing()

    def get(self, workspace: str, note_id: int, owner: str | None) -> dict[str, Any] | None:
        # The owner is part of the key: alice's copy of note 3 is never bob's answer.
        key = note_key(workspace, self.name, note_id, owner)
        who = owner if owner is not None else "everyone"
        note, hit = lookup(
            key,
            lambda: self.inner.get(workspace, note_id, owner),
            f"note {note_id} as {who} sees it",
            note_id=note_id,
            owner=who,
        )
        if hit and stale().served(workspace, note_id):
            event(
                "caching",
                f"stale read: this copy of note {note_id} was kept before the note changed, "
                "and invalidation is off, so the change is not in it",
                cache="stale",
                note_id=note_id,
            )
        elif not hit and stale().read_fresh(workspace, note_id):
            event(
                "caching",
                f"note {note_id} read fresh: its stale copy was dropped, so this read went "
                "to the storage and sees the change",
                cache="fresh",
                note_id=note_id,
                stale_fixed=True,
            )
        return note

    def list(self, workspace: str, query: Any) -> tuple[list[dict[str, Any]], int]:
        if query.limit > LARGEST_PAGE:
            return self.inner.list(workspace, query)  # a bulk read: no one asks for it twice
        page, _ = lookup(
            list_key(workspace, self.name, repr(query)),
            lambda: self.inner.list(workspace, query),
            f"a page of notes ({query.limit} from {query.offset})",
        )
        return page

    def insert(self, workspace: str, note: dict[str, Any]) -> dict[str, Any]:
        return self.inner.insert(workspace, note)

    def update(
        self, workspace: str, note_id: int, fields: dict[str, Any], owner: str | None
    ) -> dict[str, Any] | None:
        return self.inner.update(workspace, note_id, fields, owner)

    def delete(self, workspace: str, note_id: int, owner: str | None) -> bool:
        return self.inner.delete(workspace, note_id, owner)


def note_changed(workspace: str, note_id: int, action: str) -> None:
    """Drop what a write made stale, unless the learner switched invalidation off."""
    what = f"note {note_id}" if note_id else "many notes"
    if options()["invalidate"]:
        invalidate(workspace, note_id)
        event(
            "caching",
            f"invalidate: {what} changed ({action}): its cached copies and every cached "
            "list of notes are dropped",
            cache="invalidate",
            note_id=note_id,
        )
        return
    if note_id:
        stale().mark(workspace, note_id)
    event(
        "caching",
        f"invalidation off: {what} changed ({action}) but the cache keeps its old copies; "
        "until they expire, reads may answer the old version",
        cache="kept-stale",
        note_id=note_id,
    )


def workspace_reset(workspace: str) -> None:
    """A reset puts every note back: no copy from before may be served."""
    forget_workspace(workspace)


def on_toggle(conn: Any, workspace: str, enabled: bool) -> None:
    """Switched on: copies kept before it was switched off may be stale (writes while off
    were not heard), so they become unreachable."""
    if enabled:
        forget_workspace(workspace)
