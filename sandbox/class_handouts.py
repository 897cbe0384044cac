"""Hand-outs: an instructor's snapshot, handed to every student as a starting state.

An instructor prepares a state in a workspace (usually one they joined themselves, as a
student would), then hands it out from the dashboard: a snapshot of the workspace as it
is now, or one of that workspace's snapshots. Every student then finds it in their own
list of snapshots as ``class:<name>``, "from your instructor", and restores it into their
own workspace; they cannot delete it or take a snapshot under its name. A hand-out
marked "new students start from this" is restored into each workspace as it joins.

What a hand-out carries, and what it must not:

- The rows of the workspace it was taken of: notes, the auth lesson's accounts (their
  password hashes too: give demo accounts demo passwords, since every student can read
  their copy in the SQL console), switches and options. A restore puts them in the
  student's workspace, under the student's workspace id (``snapshots.restore_file``).
- Never the instructors' accounts or the class's settings: they live in ``class.db``, a
  file a snapshot never reads.
- Never a login: sessions, API tokens and failed logins are left out (each module names
  such tables: ``Module.not_handed_out``), so a cookie or token made while preparing
  opens no student's workspace. Nor a workspace's history (jobs, test runs) or its
  secret (the logging module's planted bug).
- Never progress: a hand-out solves nothing; each student keeps their own.
- Never the encryption key: notes encrypted in the hand-out are re-encrypted under the
  student's own key as they are restored, so no two workspaces share a key.

The file is pruned of what it must not carry when it is made, and the restore leaves
those tables out again: a hand-out made before a module named a table stays safe.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from flask import current_app

from . import class_instructors, class_room, db, snapshots
from .errors import Forbidden, NotFound, SandboxError
from .record import event

FOLDER = "handouts"  # in the data dir: apart from every workspace's snapshots/<id>/
PREFIX = "class:"  # how students name a hand-out: "class:" is never one of their own names
START_KEY = "handout_start"  # in class.db's class_meta: the hand-out new students start from


class HandoutRefused(Forbidden):
    """A student tried to change a hand-out: it is the instructor's."""

    title = "Hand-out is your instructor's"


def folder() -> Path:
    """Return the folder of the class's hand-outs (it may not exist yet)."""
    return Path(current_app.instance_path) / FOLDER


def path_of(name: str) -> Path:
    """Return a hand-out's file (it may not exist); a bad name is a 400 problem."""
    return folder() / f"{snapshots.check_name(name)}.db"


def existing(name: str) -> Path:
    """Return a hand-out's file, or raise a 404 problem naming the hand-outs there are."""
    path = path_of(name)
    if not path.is_file():
        raise NotFound(_unknown(name))
    return path


def is_handout(name: str) -> bool:
    """Return whether a snapshot name a student sent names a hand-out (``class:...``)."""
    return name.startswith(PREFIX)


# --- the instructor's side ---


def hand_out(name: str, workspace: str, snapshot: str | None, start: bool) -> dict[str, Any]:
    """Hand out a snapshot of ``workspace`` (now, or its snapshot ``snapshot``) as ``name``."""
    target = path_of(name)
    if target.exists():
        raise snapshots.SnapshotConflict(
            f"A hand-out named '{name}' exists already. Pick another name, or delete it "
            f"first (DELETE /class/api/handouts/{name}): students who restored it keep theirs."
        )
    if len(listing()) >= snapshots.LIMIT:
        raise snapshots.SnapshotConflict(
            f"The class holds {snapshots.LIMIT} hand-outs, the most it may keep: delete one."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        with class_room.acting_in(workspace):
            if snapshot is None:
                snapshots.copy_of(workspace, Path(temporary))
            else:
                source = snapshots.path_of(snapshot)
                if not source.is_file():
                    names = ", ".join(s["name"] for s in snapshots.listing()) or "none"
                    raise NotFound(
                        f"The workspace {workspace} has no snapshot named '{snapshot}'. Its "
                        f"snapshots: {names}. Leave out snapshot to hand out the workspace "
                        "as it is now."
                    )
                shutil.copyfile(source, temporary)
        _prune(Path(temporary))
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    if start:
        set_start(name)
    return describe(target)


def _prune(path: Path) -> None:
    """Delete from a hand-out's file every row it must not carry (see the top of this file)."""
    conn = sqlite3.connect(path)
    try:
        present = set(snapshots.workspace_tables(conn))
        for table in (snapshots.not_handed_out() | set(snapshots.KEPT_BY_STUDENT)) & present:
            conn.execute(f'delete from "{table}"')
        conn.commit()
        conn.execute("vacuum")  # the deleted rows leave the file's free pages too
    finally:
        conn.close()


def describe(path: Path) -> dict[str, Any]:
    """Return a hand-out as the instructor sees it: whose it was, whether newcomers get it."""
    conn = sqlite3.connect(f"file:{pathname2url(str(path))}?mode=ro", uri=True)
    try:
        taken_of = conn.execute(
            "select value from snapshot_info where key = 'workspace'"
        ).fetchone()
    finally:
        conn.close()
    return {
        **snapshots.describe(path),
        "taken_of": taken_of[0] if taken_of else None,
        "starts_new_students": start() == path.stem,
    }


def listing() -> list[dict[str, Any]]:
    """Return the class's hand-outs, newest first."""
    found = [describe(p) for p in folder().glob("*.db") if snapshots.NAME.fullmatch(p.stem)]
    return sorted(found, key=lambda h: h["created_at"], reverse=True)


def start() -> str | None:
    """Return the hand-out new students start from, if the instructor chose one."""
    conn = class_instructors.connect()
    try:
        row = conn.execute("select value from class_meta where key = ?", (START_KEY,))
        found = row.fetchone()
    finally:
        conn.close()
    return found[0] if found else None


def set_start(name: str | None) -> None:
    """Make new students start from hand-out ``name`` (None: from the class's usual start)."""
    if name is not None:
        existing(name)
    conn = class_instructors.connect()
    try:
        with conn:
            if name is None:
                conn.execute("delete from class_meta where key = ?", (START_KEY,))
            else:
                conn.execute(
                    "insert or replace into class_meta (key, value) values (?, ?)",
                    (START_KEY, name),
                )
    finally:
        conn.close()


def delete(name: str) -> None:
    """Delete a hand-out; students who restored it keep what they restored."""
    path = existing(name)
    if start() == name:
        set_start(None)
    path.unlink()


def _unknown(name: str) -> str:
    names = ", ".join(h["name"] for h in listing()) or "none yet"
    return f"The class has no hand-out named '{name}'. Its hand-outs: {names}."


# --- the students' side ---


def for_students() -> list[dict[str, Any]]:
    """Return the hand-outs as a student's list of snapshots shows them."""
    if not _class_mode():
        return []
    return [
        {
            "name": PREFIX + h["name"],
            "from": "your instructor",
            "created_at": h["created_at"],
            "bytes": h["bytes"],
            "notes": h["notes"],
            "rows": h["rows"],
            "starts_new_students": h["starts_new_students"],
        }
        for h in listing()
    ]


def _class_mode() -> bool:
    # A laptop has no class, so no hand-outs.
    return bool(current_app.config["SANDBOX_CLASS_MODE"])


def restore(name: str) -> dict[str, Any]:
    """Restore hand-out ``class:<name>`` into this request's workspace (a student's own)."""
    bare = name.removeprefix(PREFIX)
    if not _class_mode():
        raise NotFound(_no_class(name))
    path = path_of(bare)
    if not path.is_file():
        names = ", ".join(h["name"] for h in for_students()) or "none yet"
        raise NotFound(f"Your instructor handed out no '{name}'. Hand-outs: {names}.")
    answer = snapshots.restore_file(path, f"hand-out '{name}'", handout=True)
    changed = class_room.apply_locks(db.workspace())
    return {**answer, "name": name, "from": "your instructor", "locked_modules_reset": changed}


def _no_class(name: str) -> str:
    return f"This sandbox serves no class, so it has no hand-out '{name}' (class:<name>)."


def refuse(name: str, verb: str) -> SandboxError:
    """Return the problem for a student who tries to change a hand-out: 403 (404 on a laptop)."""
    if not _class_mode():
        return NotFound(_no_class(name))
    return HandoutRefused(
        f"'{name}' is your instructor's hand-out: you may restore it "
        f"(POST /sandbox/snapshots/{name}/restore), not {verb} it. Take a snapshot of your "
        "own under a name without 'class:' to keep your work."
    )


def start_new_student(workspace: str) -> str | None:
    """Put a workspace that just joined at the hand-out new students start from, if any."""
    name = start()
    if name is None or not path_of(name).is_file():
        return None
    with class_room.acting_in(workspace):
        snapshots.restore_file(path_of(name), f"hand-out '{PREFIX}{name}'", handout=True)
        class_room.apply_locks(workspace)
    event("class", f"workspace {workspace} starts from the hand-out '{PREFIX}{name}'")
    return PREFIX + name
