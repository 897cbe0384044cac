"""The room: its rules for modules, its join code, and what an instructor does to workspaces.

Each workspace switches its own modules, like a laptop. The class adds one rule
per module on top (``class_modules``, written from the preset, changed from the
dashboard): the state every workspace **starts** with (and returns to at a
reset), and whether it is **locked**. A locked module is at the class's state in
every workspace, and a student's switch answers 403.

An instructor's action on a student's workspace (reset it, switch a module for
everyone) runs the very code a student's own request runs, with the request
pointed at that workspace for the time of the call (:func:`acting_in`): the same
transaction, the same module hooks, the same events in the record.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, current_app, request

from . import class_instructors, class_preset, db, notes
from .class_preset import Preset
from .errors import Forbidden
from .record import current_record, event
from .registry import registry
from .workspaces import ENVIRON_KEY

JOIN_CODE_KEY = "class.join_code"
CODE_MADE_KEY = "class.join_code_made_at"
CODE_EXPIRED_KEY = "class.join_code_expired_at"
CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/O, 1/l: read off a board
PRESET_KEY = "preset"


class ModuleLocked(Forbidden):
    """A student tried to switch a module the class has locked."""

    title = "Module locked"


def preset(app: Flask | None = None) -> Preset:
    """Return the preset in force."""
    return (app or current_app).extensions["sandbox.class_preset"]


# --- the rule for each module ---


def rules(app: Flask | None = None) -> dict[str, dict[str, bool]]:
    """Return ``{module: {"enabled": start state, "locked": bool}}`` for every module."""
    app = app or current_app
    conn = class_instructors.connect(app)
    try:
        rows = {r["name"]: r for r in conn.execute("select * from class_modules")}
    finally:
        conn.close()
    modules = app.extensions["sandbox.registry"].modules
    return {
        name: {
            "enabled": bool(rows[name]["enabled"]) if name in rows else m.enabled_by_default,
            "locked": bool(rows[name]["locked"]) if name in rows else False,
        }
        for name, m in modules.items()
    }


def set_rule(name: str, *, enabled: bool | None = None, locked: bool | None = None) -> None:
    """Change the class's rule for a module (its start state, its lock, or both)."""
    rule = rules()[name]
    rule.update({k: v for k, v in (("enabled", enabled), ("locked", locked)) if v is not None})
    conn = class_instructors.connect()
    try:
        with conn:
            _write_rule(conn, name, rule)
    finally:
        conn.close()


def _write_rule(conn: Any, name: str, rule: dict[str, bool]) -> None:
    conn.execute(
        "insert into class_modules (name, enabled, locked, updated_at) values (?, ?, ?, ?) "
        "on conflict (name) do update set enabled = excluded.enabled, "
        "locked = excluded.locked, updated_at = excluded.updated_at",
        (name, int(rule["enabled"]), int(rule["locked"]), db.now()),
    )


def load_preset(app: Flask) -> Preset:
    """Return the preset to use: the file given now, else the one this data dir remembers.

    The data dir keeps the last preset's text, so a restart without ``--class-config`` (or
    ``python app.py class info``) runs the same room: a lock does not vanish because a
    command line was shorter. Another file replaces it; an empty one means no preset.
    """
    modules = app.extensions["sandbox.registry"].modules
    conn = class_instructors.connect(app)
    try:
        path = app.config["SANDBOX_CLASS_CONFIG"]
        if path:
            chosen = class_preset.load(path, modules)
            with conn:
                conn.executemany(
                    "insert or replace into class_meta (key, value) values (?, ?)",
                    [("preset_path", chosen.path), ("preset_text", chosen.text)],
                )
            return chosen
        stored = dict(conn.execute("select key, value from class_meta").fetchall())
    finally:
        conn.close()
    if "preset_text" not in stored:
        return Preset()
    return class_preset.parse(stored["preset_text"], stored["preset_path"], modules)


def apply_preset(app: Flask) -> None:
    """Write the preset's rules, when the preset's choices changed since the last start.

    Unchanged, the rules stay as the dashboard left them: a restart does not undo the
    lock an instructor set an hour ago. Changed, the file wins, and each workspace is put
    at the class's state of every module the new preset locks.
    """
    chosen = preset(app)
    modules = app.extensions["sandbox.registry"].modules
    conn = class_instructors.connect(app)
    try:
        with conn:
            row = conn.execute("select value from class_meta where key = ?", (PRESET_KEY,))
            stored = row.fetchone()
            if stored is not None and stored[0] == chosen.fingerprint():
                return
            conn.execute("delete from class_modules")
            for name, module in modules.items():
                on = chosen.modules_on
                rule = {
                    "enabled": module.enabled_by_default if on is None else name in on,
                    "locked": chosen.switchable is not None and name not in chosen.switchable,
                }
                _write_rule(conn, name, rule)
            conn.execute(
                "insert or replace into class_meta (key, value) values (?, ?)",
                (PRESET_KEY, chosen.fingerprint()),
            )
    finally:
        conn.close()
    locked = [name for name, rule in rules(app).items() if rule["locked"]]
    if locked:
        with app.test_request_context("/"):  # a request to act in, outside any real one
            for workspace in student_ids():
                apply_start(workspace, locked)


def refuse_if_locked(name: str) -> None:
    """Refuse a student's switch of a locked module, with a 403 problem naming the lock."""
    rule = rules().get(name)
    if rule is None or not rule["locked"]:
        return
    state = "on" if rule["enabled"] else "off"
    event("class", f"switch of {name} refused: locked by the class", decision="locked")
    raise ModuleLocked(
        f"Module '{name}' is locked for this class: it stays {state} in every workspace, so "
        "its switch is not yours to change today. Ask your instructor if you need it "
        "switched; the other modules are yours to switch.",
        module=name,
        locked=True,
        enabled=rule["enabled"],
    )


# --- acting on a student's workspace ---


@contextmanager
def acting_in(workspace: str) -> Iterator[None]:
    """Point this request at a student's workspace for the time of a call."""
    # The registry, progress, records and notes all ask workspaces.current(), which reads
    # the workspace from the request's WSGI environ: set it there, and put it back after.
    environ = request.environ
    before = environ.get(ENVIRON_KEY)
    environ[ENVIRON_KEY] = workspace
    try:
        yield
    finally:
        if before is None:
            environ.pop(ENVIRON_KEY, None)
        else:
            environ[ENVIRON_KEY] = before


def apply_start(workspace: str, names: list[str] | None = None) -> list[str]:
    """Switch a workspace's modules (or the named ones) to the class's state; return which."""
    wanted = rules()
    reg = registry()
    changed = []
    with acting_in(workspace):
        conn = db.connect(db.database_path(), traced=False)
        try:
            state = reg.stored_state(conn)
        finally:
            conn.close()
        for name in names or list(wanted):
            if name in state and state[name] != wanted[name]["enabled"]:
                # Through the registry, as a student's switch: a module that changes data
                # when switched (encrypting every note) does so here too.
                reg.set_enabled(name, wanted[name]["enabled"])
                changed.append(f"{name} {'on' if wanted[name]['enabled'] else 'off'}")
    return changed


def is_class_server() -> bool:
    """Return whether this server serves a class."""
    return bool(current_app.config["SANDBOX_CLASS_MODE"])


def apply_locks(workspace: str) -> list[str]:
    """Put a workspace's locked modules back at the class's state (after a restore)."""
    # A snapshot keeps the switches as they were: one taken before a lock, or a hand-out
    # prepared with a module the class has locked off since, would undo the lock.
    locked = [name for name, rule in rules().items() if rule["locked"]]
    return apply_start(workspace, locked) if locked else []


def switch_everywhere(name: str) -> int:
    """Put every workspace at the class's state of one module; return how many changed."""
    return sum(bool(apply_start(workspace, [name])) for workspace in student_ids())


def reset_workspace(workspace: str) -> None:
    """Put one student's workspace back to the class's start, as their own reset does."""
    app = current_app
    with acting_in(workspace):
        registry().reset(db.get_db().conn, workspace)
        notes.memory().clear(workspace)
        app.extensions["sandbox.progress"].get(workspace).forget()
        app.extensions["sandbox.records"].get(workspace).clear()
    apply_start(workspace)


def student_ids() -> list[str]:
    """Return every workspace of the class, oldest first."""
    conn = db.connect(db.database_path(), traced=False)
    try:
        return [r[0] for r in conn.execute("select id from class_workspaces order by created_at")]
    finally:
        conn.close()


# --- the join code ---


def _meta(conn: Any, key: str) -> str | None:
    row = conn.execute("select value from sandbox_meta where key = ?", (key,)).fetchone()
    return None if row is None else row[0]


def _set_meta(conn: Any, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("delete from sandbox_meta where key = ?", (key,))
    else:
        conn.execute("insert or replace into sandbox_meta (key, value) values (?, ?)", (key, value))


def new_code() -> str:
    """Return a fresh join code: 8 characters of 32, 2**40 codes, short enough for a board."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))


def code_state(app: Flask | None = None) -> dict[str, Any]:
    """Return the join code, when it was made, when it expires and whether it has."""
    app = app or current_app
    conn = db.connect(db.database_path(app), traced=False)
    try:
        with conn:
            code = _meta(conn, JOIN_CODE_KEY)
            if code is None:
                code = new_code()
                _set_meta(conn, JOIN_CODE_KEY, code)
            made = _meta(conn, CODE_MADE_KEY)
            if made is None:  # a code from before expiry existed: count from now
                made = db.now()
                _set_meta(conn, CODE_MADE_KEY, made)
            expired_at = _meta(conn, CODE_EXPIRED_KEY)
    finally:
        conn.close()
    minutes = preset(app).code_minutes
    expires = expired_at
    if expires is None and minutes is not None:
        stamp = datetime.fromisoformat(made) + timedelta(minutes=minutes)
        expires = stamp.isoformat(timespec="milliseconds")
    now = datetime.now(timezone.utc)
    return {
        "code": code,
        "made_at": made,
        "expires_at": expires,
        "expired": expires is not None and datetime.fromisoformat(expires) <= now,
    }


def expire_code() -> None:
    """End the join code now: nobody joins until a new one is made."""
    _write_code({CODE_EXPIRED_KEY: db.now()})


def renew_code() -> str:
    """Make a new join code (the old one stops working); return it."""
    code = new_code()
    _write_code({JOIN_CODE_KEY: code, CODE_MADE_KEY: db.now(), CODE_EXPIRED_KEY: None})
    return code


def _write_code(values: dict[str, str | None]) -> None:
    conn = db.get_db().conn
    with conn:
        for key, value in values.items():
            _set_meta(conn, key, value)


# --- the log of what instructors did ---


def log_action(action: str, detail: str, **data: Any) -> None:
    """Note an instructor's action: an event in this request's record, and a row for the log."""
    instructor = class_instructors.current() or "?"
    event("class", f"{instructor}: {detail}", action=action, instructor=instructor, **data)
    record = current_record()
    conn = class_instructors.connect()
    try:
        with conn:
            conn.execute(
                "insert into class_actions (at, instructor, action, detail, trace_id) "
                "values (?, ?, ?, ?, ?)",
                (db.now(), instructor, action, detail, record.id if record else None),
            )
    finally:
        conn.close()


def actions(limit: int = 50) -> list[dict[str, Any]]:
    """Return the latest instructor actions, newest first."""
    conn = class_instructors.connect()
    try:
        rows = conn.execute(
            "select at, instructor, action, detail, trace_id from class_actions "
            "order by id desc limit ?",
            (limit,),
        ).fetchall()
    finally:
        conn.close()
    return [dict(r) for r in rows]
