"""The note store: the example domain's data, and the rules every door to it shares.

Notes have an id, an owner, a title, a body, tags and two times. The API, the
HTML pages and the notebooks all go through this store, so a rule written here
(what a valid note is) holds whichever door a request came in by.

Where the notes live is not decided here: a module that is on may provide a
``note_storage`` (the database module provides SQLite). With none, notes live
in this process's memory, and are gone when it stops.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any

from flask import Flask, current_app
from pydantic import AfterValidator, Field

from . import db
from .errors import InvalidQuery, NotFound
from .identity import owner_filter, require_identity
from .record import event
from .registry import registry
from .services import NoteStorage
from .validation import Body, NotBlank, parse, read_json

TITLE_MAX = 200
BODY_MAX = 100_000
TAG_MAX = 40
TAGS_MAX = 20
# A search term longer than this is refused: SQLite refuses a LIKE pattern over 50,000
# bytes ("LIKE or GLOB pattern too complex"), and no note could be found by a page of text.
SEARCH_MAX = 1000
SORTS = ("created", "updated", "title")
MAX_ID = 2**63 - 1  # SQLite's largest integer: a larger id cannot exist
EDITABLE = ("title", "body", "tags")


@dataclass(frozen=True)
class Query:
    """What a list of notes asks for: filters, order and one page."""

    tag: str | None = None
    q: str | None = None
    sort: str = "created"
    descending: bool = False
    limit: int = 20
    offset: int = 0
    owner: str | None = None  # only this owner's notes; None for everyone's


class MemoryStorage:
    """Notes in a dict in this server: fast, simple, and lost when the server stops.

    So that a learner can *see* the loss, it writes down (in the database, which
    does survive) how many notes it holds; the next server to start compares.
    """

    name = "memory"

    def __init__(self, path: Path):
        self.path = path  # the database file, for the bookkeeping only
        self.boot = secrets.token_hex(6)  # this server's identity, new at every start
        self._notes: dict[str, dict[int, dict[str, Any]]] = {}
        self._next_id: dict[str, int] = {}
        self._checked: set[str] = set()
        self._lock = threading.Lock()  # requests run on several threads at once
        self._held = threading.local()  # the write transaction this thread holds, if any

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """Hold the database's write lock while a note is written to memory.

        The notes are in memory, but the module switches are in the database, and a switch
        (encryption) rewrites the bodies in memory while it holds that lock. Holding it too,
        a write sees the switches as they are and no switch can slip in before it is stored.
        The note count below is written in the same transaction.
        """
        conn = db.connect(self.path, traced=False)  # bookkeeping, not the learner's request
        try:
            with conn:  # commits when the block ends, rolls back if it raises
                conn.execute("BEGIN IMMEDIATE")
                self._held.conn = conn
                yield conn
        finally:
            self._held.conn = None
            conn.close()

    def list(self, workspace: str, query: Query) -> tuple[list[dict[str, Any]], int]:
        with self._lock:
            notes = [dict(n) for n in self._notes.get(workspace, {}).values()]
        if query.owner is not None:
            notes = [n for n in notes if n["owner"] == query.owner]
        if query.tag:
            notes = [n for n in notes if query.tag in n["tags"]]
        if query.q:
            needle = query.q.lower()
            notes = [
                n
                for n in notes
                if needle in str(n["title"]).lower() or needle in str(n["body"]).lower()
            ]
        key = {"created": "created_at", "updated": "updated_at", "title": "title"}[query.sort]
        notes.sort(key=lambda n: (_sortable(n[key]), n["id"]), reverse=query.descending)
        return notes[query.offset : query.offset + query.limit], len(notes)

    def _find(self, workspace: str, note_id: int, owner: str | None) -> dict[str, Any] | None:
        note = self._notes.get(workspace, {}).get(note_id)
        return note if note and (owner is None or note["owner"] == owner) else None

    def get(self, workspace: str, note_id: int, owner: str | None) -> dict[str, Any] | None:
        with self._lock:
            note = self._find(workspace, note_id, owner)
            return dict(note) if note else None

    def insert(self, workspace: str, note: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            note_id = self._next_id.get(workspace, 1)
            self._next_id[workspace] = note_id + 1
            stored = {"id": note_id, **note}
            self._notes.setdefault(workspace, {})[note_id] = stored
            count = len(self._notes[workspace])
        self._write_count(workspace, count)
        return dict(stored)

    def update(
        self, workspace: str, note_id: int, fields: dict[str, Any], owner: str | None
    ) -> dict[str, Any] | None:
        with self._lock:
            note = self._find(workspace, note_id, owner)
            if note is None:
                return None
            note.update(fields)
            return dict(note)

    def replace_bodies(self, workspace: str, changes: dict[int, tuple[str, str]]) -> int:
        """Set bodies ``{id: (expected, new)}`` where a body is still the expected one.

        For a change computed earlier (a module switch): a note deleted or rewritten since
        is left as it is now. Returns how many bodies changed.
        """
        changed = 0
        with self._lock:  # all of them at once: no reader sees half of the change
            kept = self._notes.get(workspace, {})
            for note_id, (expected, new) in changes.items():
                note = kept.get(note_id)
                if note is not None and note["body"] == expected:
                    note["body"] = new
                    changed += 1
        return changed

    def delete(self, workspace: str, note_id: int, owner: str | None) -> bool:
        with self._lock:
            deleted = self._find(workspace, note_id, owner) is not None
            if deleted:
                del self._notes[workspace][note_id]
            count = len(self._notes.get(workspace, {}))
        if deleted:
            self._write_count(workspace, count)
        return deleted

    def clear(self, workspace: str) -> None:
        """Forget a workspace's notes (on reset)."""
        with self._lock:
            self._notes.pop(workspace, None)
            self._next_id.pop(workspace, None)
        self._write_count(workspace, 0)

    def lost_since_last_start(self, workspace: str) -> int:
        """Return how many notes a previous server held in memory (once per workspace)."""
        if workspace in self._checked:
            return 0
        self._checked.add(workspace)
        conn = db.connect(self.path, traced=False)  # bookkeeping, not the learner's request
        try:
            row = conn.execute(
                "select value from sandbox_meta where key = ?", (f"memory_notes:{workspace}",)
            ).fetchone()
        finally:
            conn.close()
        if row is None:
            return 0
        saved = json.loads(row["value"])
        if saved["boot"] == self.boot or not saved["count"]:
            return 0
        self._write_count(workspace, 0)
        return saved["count"]

    def _write_count(self, workspace: str, count: int) -> None:
        sql = "insert or replace into sandbox_meta (key, value) values (?, ?)"
        params = (f"memory_notes:{workspace}", json.dumps({"boot": self.boot, "count": count}))
        held = getattr(self._held, "conn", None)
        if held is not None:
            # Inside writing(): this thread holds the write lock on that connection. A second
            # connection would wait for the lock this very thread holds, until it timed out.
            held.execute(sql, params)
            return
        conn = db.connect(self.path, traced=False)
        try:
            with conn:
                conn.execute(sql, params)
        finally:
            conn.close()


def _sortable(value: Any) -> tuple[int, Any]:
    """Order values of mixed types as SQLite does: numbers first, then text.

    Checked notes only ever have text titles; with validation off a title may be a
    number, and Python refuses to compare 42 with "apple" (a crash, a 500) where a
    database quietly picks an order. Ours is SQLite's, so both storages agree.
    """
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


def memory() -> MemoryStorage:
    """Return this server's in-memory note storage."""
    return current_app.extensions["sandbox.memory_notes"]


def storage(*, wrapped: bool = True) -> NoteStorage:
    """Return where notes live now: a module's storage, or this server's memory.

    ``wrapped=False`` skips what modules put in front of it (a cache): for a look the
    sandbox takes for its own reasons, which no module should count as a read.
    """
    reg = registry()
    provided = reg.provided("note_storage", wrapped=wrapped)
    if provided is not None:
        return provided
    kept = memory()
    provider = reg.provider_name("note_storage")
    event(
        "sandbox",
        f"{provider or 'storage'} off: notes kept in memory, lost when the server stops",
        storage="memory",
    )
    lost = kept.lost_since_last_start(db.workspace())
    if lost:
        event(
            "sandbox",
            f"{lost} note(s) kept in memory by the server before this one are gone: "
            "memory does not survive a restart",
            storage="memory",
            lost_in_restart=lost,
        )
    return reg.wrapped("note_storage", kept) if wrapped else kept  # a cache wraps memory too


def _changed(note_id: int, action: str) -> None:
    # Told after the write committed: a module that keeps copies (a cache) drops them now.
    registry().announce("note_changed", workspace=db.workspace(), note_id=note_id, action=action)


def init_app(app: Flask) -> None:
    """Give this server its own in-memory note storage."""
    app.extensions["sandbox.memory_notes"] = MemoryStorage(db.database_path(app))


# --- the rules every door shares ---


def _distinct(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))  # the same tag twice is one tag, in the order first given


TITLE = f"a string of 1 to {TITLE_MAX} characters, not only spaces"
TAGS = f'a list of at most {TAGS_MAX} strings of 1 to {TAG_MAX} characters, like ["work"]'
Title = Annotated[str, Field(max_length=TITLE_MAX), NotBlank(strip=True)]
Tag = Annotated[str, Field(max_length=TAG_MAX), NotBlank(strip=True)]
Tags = Annotated[list[Tag], Field(max_length=TAGS_MAX), AfterValidator(_distinct)]
Text = Annotated[str, Field(max_length=BODY_MAX)]


class NoteInput(Body):
    """A note as a client sends it to create or replace one: a title, and maybe body and tags."""

    title: Title = Field(description=TITLE)
    body: Text = Field("", description=f"a string of at most {BODY_MAX} characters")
    tags: Tags = Field(default_factory=list, description=TAGS)


class NotePatch(Body):
    """Some fields of a note, to change only those: any of title, body and tags."""

    title: Title = Field(None, description=TITLE)
    body: Text = Field(None, description=f"a string of at most {BODY_MAX} characters")
    tags: Tags = Field(None, description=TAGS)


def checked(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Check a note's fields by the models above; raise one 422 that lists every wrong field.

    ``partial`` (for PATCH) allows any subset of the fields; otherwise ``title`` is
    required and ``body`` and ``tags`` default to empty.
    """
    if partial:
        return parse(NotePatch, data).model_dump(exclude_unset=True)
    return parse(NoteInput, data).model_dump()


def validate(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """Return the fields of a note to store, checked, or raise one 422 listing what is wrong.

    A module may provide ``note_validation`` (the validation module does): while it is on,
    it checks; while it is off, it says what it lets in unchecked. With no such module,
    notes are always checked.
    """
    reg = registry()
    provider = reg.any_provider("note_validation")
    if provider is None:
        return checked(data, partial=partial)
    if reg.provided("note_validation") is None:  # its module is off
        return provider.relaxed(data, partial=partial)
    return provider.validate(data, partial=partial)


# --- the operations ---


def _read(note: dict[str, Any], state: dict[str, bool] | None = None) -> dict[str, Any]:
    """Run the read transforms of the modules that are on (decryption, say).

    ``state`` is the modules' state a write just stored the note under; without it, the
    server's current view of the switches.
    """
    reg = registry()
    state = state if state is not None else reg.state()
    for module in reg.modules.values():
        transform = module.provides.get("note_transform")
        if transform is not None and state[module.name]:
            note = transform.on_read(note)
    return note


def _write(fields: dict[str, Any], state: dict[str, bool]) -> dict[str, Any]:
    """Run the write transforms of the modules that are on in ``state`` (encryption, say).

    A transform of a module that is off is not run; if it has a ``when_off`` text, the
    record says it ("encryption off: note bodies are stored as plain text").
    """
    for module in registry().modules.values():
        transform = module.provides.get("note_transform")
        if transform is None:
            continue
        if state[module.name]:
            fields = transform.on_write(fields)
        elif getattr(transform, "when_off", None):
            event(module.name, f"{module.name} off: {transform.when_off}")
    return fields


@contextmanager
def _writing(store: NoteStorage) -> Iterator[dict[str, bool]]:
    """Hold the write lock from deciding how to store a note until it is stored.

    Yields the modules' state as of this moment, read inside the transaction. Why not the
    server's cached view of the switches (registry().state())? Because of this race, with
    two requests on two threads:

        write a note                       switch encryption on
        ------------                       --------------------
        is encryption on? no (cached)
                                           encrypt every stored body, commit
        store the body as plain text

    The note is now plain text in a database that says every body is encrypted: switching
    off later "decrypts" it (it is left alone), switching on again skips it. The other way
    round, a body encrypted just before a switch off stays ciphertext forever, and one
    encrypted just before a switch on is encrypted twice. A switch rewrites the bodies in
    one transaction holding the database's write lock; a write that takes the same lock
    (BEGIN IMMEDIATE) *before* it reads the switches runs entirely before a switch or
    entirely after it, never in between.
    """
    with store.writing() as conn:
        yield registry().stored_state(conn)


def _not_found(note_id: int) -> NotFound:
    # The same answer whether the note does not exist or belongs to someone else:
    # telling them apart would tell a stranger which ids are taken.
    return NotFound(f"There is no note {note_id} among the notes you can see.")


def check_query(query: Query) -> None:
    """Refuse a list query no storage could answer, with a 400 problem that says the limit."""
    if query.q is not None and len(query.q) > SEARCH_MAX:
        raise InvalidQuery(
            f"The search term 'q' may have at most {SEARCH_MAX} characters "
            f"({len(query.q)} sent). Search for a shorter, distinctive part of the text."
        )


def list_notes(query: Query) -> tuple[list[dict[str, Any]], int]:
    """Return one page of the notes the asker may see, and how many match in all."""
    check_query(query)
    owner = owner_filter(require_identity(write=False))
    items, total = storage().list(db.workspace(), replace(query, owner=owner))
    state = registry().state()  # once for the page, not once per note
    return [_read(n, state) for n in items], total


def get_note(note_id: int) -> dict[str, Any]:
    """Return one note the asker may see, or raise a 404 problem."""
    owner = owner_filter(require_identity(write=False))
    note = storage().get(db.workspace(), note_id, owner) if note_id <= MAX_ID else None
    if note is None:
        # Does it exist at all? Asked of the storage itself (wrapped=False): a look the
        # sandbox takes to explain the 404 in the record, not a read anyone made.
        if (
            owner is not None
            and note_id <= MAX_ID
            and storage(wrapped=False).get(db.workspace(), note_id, None)
        ):
            # The record (which only the server keeps) may say why; the answer must not.
            event(
                "sandbox",
                f"note {note_id} exists but belongs to someone else: answered 404, "
                "exactly as if it did not exist",
                decision="not yours",
            )
        raise _not_found(note_id)
    return _read(note)


def find_note(note_id: int, owner: str) -> dict[str, Any] | None:
    """Return one note of ``owner`` without asking who is asking, or None.

    Only for a caller that holds another proof of permission: a share link, whose
    signature says the owner chose to show this note to whoever has the link.
    """
    note = storage().get(db.workspace(), note_id, owner) if note_id <= MAX_ID else None
    return _read(note) if note is not None else None


def create_note(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store a new note, owned by whoever asks."""
    identity = require_identity(write=True)
    fields = validate(data)
    stamp = db.now()
    note = {
        "owner": identity.username,
        "title": fields["title"],
        "body": fields["body"],
        "tags": fields["tags"],
        "created_at": stamp,
        "updated_at": stamp,
    }
    store = storage()
    with _writing(store) as state:
        stored = store.insert(db.workspace(), _write(note, state))
    _changed(stored["id"], "insert")
    return _read(stored, state)  # decrypted as it was stored, whatever switch comes next


def create_notes(items: list[dict[str, Any]]) -> int:
    """Validate and store many new notes in one transaction (all or none); return how many.

    For generated data (thousands of notes to measure with): one commit instead of one
    per note, so 10,000 take a second or two instead of ten.
    """
    identity = require_identity(write=True)
    checked = [validate(item) for item in items]  # every one valid before any is stored
    store = storage()
    with _writing(store) as state:
        for fields in checked:
            stamp = db.now()
            note = {"owner": identity.username, **fields, "created_at": stamp, "updated_at": stamp}
            store.insert(db.workspace(), _write(note, state))
    _changed(0, "insert")  # 0: many notes; whoever keeps lists drops them all
    return len(checked)


def visible_notes(batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Yield every note the asker may see, oldest first, read a batch at a time."""
    owner = owner_filter(require_identity(write=False))
    offset = 0
    while True:
        query = Query(limit=batch, offset=offset, owner=owner)
        items, _ = storage().list(db.workspace(), query)
        state = registry().state()
        yield from (_read(n, state) for n in items)
        if len(items) < batch:
            return
        offset += batch


def update_note(note_id: int, data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Replace (``partial=False``) or change some fields of a note."""
    owner = owner_filter(require_identity(write=True))
    fields = validate(data, partial=partial)
    current = get_note(note_id)  # a 404 for a note that is not there, or not theirs
    if all(current[k] == v for k, v in fields.items()):
        return current  # nothing changes: no write, and updated_at and the ETag stay as they are
    store = storage()
    with _writing(store) as state:
        changes = _write({**fields, "updated_at": db.now()}, state)
        note = store.update(db.workspace(), note_id, changes, owner)
    if note is None:  # deleted between the read and the write
        raise _not_found(note_id)
    _changed(note_id, "update")
    return _read(note, state)


def delete_note(note_id: int) -> None:
    """Delete a note the asker owns, or raise a 404 problem."""
    owner = owner_filter(require_identity(write=True))
    if note_id > MAX_ID or not storage().delete(db.workspace(), note_id, owner):
        raise _not_found(note_id)
    _changed(note_id, "delete")


def from_row(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a database row into a note (tags are stored as JSON text)."""
    note = {k: row[k] for k in ("id", "owner", "title", "body", "tags", "created_at", "updated_at")}
    try:
        tags = read_json(note["tags"])  # depth-limited: the row may hold anything
    except (TypeError, ValueError):
        tags = None
    if not isinstance(tags, list):
        # A row written around the note store (sb.db, say) can hold anything: show it, say so.
        event(
            "sandbox",
            f"note {note['id']} has tags that are not a JSON list "
            f"({str(note['tags'])[:40]!r}): shown as []",
        )
        tags = []
    note["tags"] = tags
    return note
