"""Snapshots: save a workspace's whole state under a name, and go back to it later.

A snapshot is what lets a learner experiment without fear: take one before switching
encryption on, break things, then put everything back (notes, accounts, keys, switches,
progress) in one step. An instructor takes one to hand out a starting state.

What is saved: every row of the workspace, in every table that has a ``workspace``
column (the core's and every module's: read from the database itself, so the core names
no module), and the files a module keeps beside the database for the workspace (its
``snapshot_files``: the encryption keys). Each snapshot is one SQLite file,
``snapshots/<workspace>/<name>.db`` in the data dir, made with SQLite's backup API: a
copy of the database as it was at one instant, which is then pruned down to the
workspace's own rows (in a class, a classmate's rows never land in your snapshot).

A restore is one transaction: delete the workspace's rows of every table, copy the
snapshot's back. Another request sees the state before or the state after, never half of
each: SQLite gives readers the last committed state, and writers wait their turn.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from flask import current_app

from . import db
from .errors import InvalidPath, NotFound, SandboxError
from .progress import progress
from .record import event
from .registry import registry

# A name becomes a file name: a short, safe alphabet only, so "../x" or "a/b" cannot
# reach outside the workspace's folder.
NAME = re.compile(r"[a-z0-9-]{1,40}")
NAME_RULE = "1 to 40 characters: lowercase letters, digits and '-' (like before-encryption)"
LIMIT = 20  # snapshots per workspace: each is a copy of its rows, on the server's disk
FOLDER = "snapshots"
_SAFE_FOLDER = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SnapshotConflict(SandboxError):
    """The snapshot cannot be made or restored as things stand."""

    status = 409
    title = "Snapshot conflict"


def check_name(name: str) -> str:
    """Return the name, or raise a 400 problem saying what a name may be."""
    if not NAME.fullmatch(name):
        raise InvalidPath(f"A snapshot's name is {NAME_RULE}; {name[:60]!r} is not.")
    return name


def folder(workspace: str | None = None) -> Path:
    """Return the folder of a workspace's snapshots (it may not exist yet)."""
    workspace = workspace or db.workspace()
    # Workspace ids are short and safe already; a SANDBOX_WORKSPACE setting may not be.
    safe = workspace if _SAFE_FOLDER.fullmatch(workspace) else _hashed(workspace)
    return Path(current_app.instance_path) / FOLDER / safe


def _hashed(workspace: str) -> str:
    return "w-" + hashlib.sha256(workspace.encode()).hexdigest()[:16]


def path_of(name: str) -> Path:
    """Return the file of one of this workspace's snapshots (it may not exist)."""
    return folder() / f"{check_name(name)}.db"


def workspace_tables(conn: sqlite3.Connection, schema: str = "main") -> dict[str, list[str]]:
    """Return ``{table: [columns]}`` of every table whose rows belong to a workspace."""
    # Read from the database, not from a list: a module's tables are there from its
    # schema.sql, so a new module's rows are saved without the core knowing its name.
    tables = conn.execute(
        f"select name from {schema}.sqlite_master where type = 'table' "
        "and name not like 'sqlite_%' and sql not like 'CREATE VIRTUAL%'"
    ).fetchall()
    found = {}
    for (table,) in tables:
        columns = [row[1] for row in conn.execute(f'pragma {schema}.table_info("{table}")')]
        if "workspace" in columns:
            found[table] = columns
    return found


def module_files(workspace: str) -> list[str]:
    """Return the files (relative to the data dir) the modules keep for a workspace."""
    paths = []
    for module in registry().modules.values():
        if module.snapshot_files is not None:
            paths += module.snapshot_files(workspace)
    return paths


def listing() -> list[dict[str, Any]]:
    """Return this workspace's snapshots, newest first."""
    found = []
    for path in folder().glob("*.db"):
        if NAME.fullmatch(path.stem):
            found.append(describe(path))
    return sorted(found, key=lambda s: s["created_at"], reverse=True)


def describe(path: Path) -> dict[str, Any]:
    """Return a snapshot file's name, date, size and how many rows it holds."""
    conn = sqlite3.connect(f"file:{pathname2url(str(path))}?mode=ro", uri=True)
    try:
        info = dict(conn.execute("select key, value from snapshot_info").fetchall())
        rows = {
            table: conn.execute(f'select count(*) from "{table}"').fetchone()[0]
            for table in workspace_tables(conn)
        }
    finally:
        conn.close()
    return {
        "name": path.stem,
        "created_at": info.get("created_at"),
        "bytes": path.stat().st_size,
        "notes": rows.get("notes", 0),
        "rows": sum(rows.values()),
    }


def make(name: str) -> dict[str, Any]:
    """Save this workspace's rows and files as snapshot ``name``; return its description."""
    target = path_of(name)
    if target.exists():
        raise SnapshotConflict(
            f"This workspace already has a snapshot named '{name}'. Pick another name, or "
            f"delete the old one first (DELETE /sandbox/snapshots/{name})."
        )
    if len(listing()) >= LIMIT:
        raise SnapshotConflict(
            f"This workspace holds {LIMIT} snapshots, the most it may keep. Delete one you "
            "no longer need (DELETE /sandbox/snapshots/<name>; GET /sandbox/snapshots lists them)."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        copy_of(db.workspace(), Path(temporary))
        os.replace(temporary, target)  # listed only once it is whole
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    event("sandbox", f"snapshot '{name}' saved: this workspace's rows and key files")
    return describe(target)


def copy_of(workspace: str, temporary: Path) -> None:
    """Copy the database into ``temporary``, then keep only the workspace's rows in it."""
    lock = db.connect(db.database_path(), traced=False)
    source = db.connect(db.database_path(), traced=False)
    copy = sqlite3.connect(temporary)
    try:
        # The rows and the key files must be of one instant, or a key rotation slipping in
        # between would leave rows under a key the snapshot lacks. So, for a moment, the
        # write lock (on a second connection: SQLite will not back up from one that writes):
        # the copy's read transaction starts, the files are read, and writers go on.
        lock.execute("BEGIN IMMEDIATE")
        source.execute("BEGIN")
        source.execute("select count(*) from sqlite_master").fetchone()  # the read starts here
        files = []
        for relative in module_files(workspace):
            path = Path(current_app.instance_path) / relative
            if path.is_file():
                files.append((relative, path.read_bytes()))
        lock.rollback()
        # SQLite's backup API: the whole file, as of the read transaction above (in WAL
        # mode, what writers commit meanwhile is not in it).
        source.backup(copy)
        source.rollback()
        _prune(copy, workspace)
        copy.execute("create table snapshot_info (key text primary key, value text not null)")
        copy.executemany(
            "insert into snapshot_info values (?, ?)",
            [("workspace", workspace), ("created_at", db.now())],
        )
        copy.execute("create table snapshot_files (path text primary key, content blob not null)")
        copy.executemany("insert into snapshot_files values (?, ?)", files)
        copy.commit()
        copy.execute("vacuum")  # the deleted rows of other workspaces leave the file for good
        copy.execute("pragma journal_mode = delete")  # one file, readable without its -wal
    finally:
        copy.close()
        source.close()
        lock.close()  # rolls back, and gives the write turn back, if anything above failed


def _prune(copy: sqlite3.Connection, workspace: str) -> None:
    """Delete every row of other workspaces, and every table that belongs to none."""
    kept = workspace_tables(copy)
    for kind, item in copy.execute(
        "select type, name from sqlite_master where type in ('index', 'trigger', 'view') "
        "and name not like 'sqlite_%'"
    ).fetchall():
        # Indexes carry their makers' names (a classmate's too); a restore needs none of them.
        copy.execute(f'drop {kind} if exists "{item}"')
    tables = [r[0] for r in copy.execute("select name from sqlite_master where type = 'table'")]
    for table in tables:
        if table.startswith("sqlite_"):
            continue
        if table in kept:
            copy.execute(f'delete from "{table}" where workspace is not ?', (workspace,))
        else:
            copy.execute(f'drop table "{table}"')  # the class's roster, the server's metadata
    copy.commit()


def restore(name: str) -> dict[str, Any]:
    """Put this workspace back to snapshot ``name``, in one transaction."""
    source = path_of(name)
    if not source.is_file():
        raise NotFound(_unknown(name))
    return restore_file(source, f"snapshot '{name}'")


# The rows a hand-out (class_handouts.py) never carries into a student's workspace: the
# student's progress is theirs and stays as it is (a hand-out solves nothing for anyone).
# Each module names its own such tables (Module.not_handed_out: logins, tokens, history);
# those start empty.
KEPT_BY_STUDENT = ("progress",)


def not_handed_out() -> set[str]:
    """Return the tables whose rows a hand-out leaves empty (the modules name them)."""
    return {t for m in registry().modules.values() for t in m.not_handed_out}


def restore_file(source: Path, label: str, *, handout: bool = False) -> dict[str, Any]:
    """Put this workspace at the state saved in ``source`` (one of its snapshots, or a hand-out).

    A hand-out was taken of another workspace: its rows are re-homed into this one, and the
    modules make them this workspace's own (``handed_out``: the notes under this workspace's
    key, never the one the hand-out was made with).
    """
    workspace = db.workspace()
    conn = db.get_db().conn  # the request's own connection: its record shows every statement
    # ATTACH cannot run inside a transaction; mode=ro: a restore only ever reads the snapshot.
    conn.execute("attach database ? as snapshot", (f"file:{pathname2url(str(source))}?mode=ro",))
    try:
        restored, renumbered, said = _restore_rows(conn, workspace, handout)
    finally:
        conn.execute("detach database snapshot")
    # What the core and the modules keep in memory is stale now, as after a reset.
    registry().forget_workspace(workspace)
    progress().forget()
    message = f"{label} restored: {restored} rows back"
    if renumbered:
        message += f", {renumbered} under new ids (another workspace's rows hold the old ones)"
    event("sandbox", message, rows=restored, renumbered=renumbered)
    return {
        "status": "restored",
        "renumbered": renumbered,
        "modules_did": said,
        **describe(source),
    }


def _restore_rows(
    conn: sqlite3.Connection, workspace: str, handout: bool = False
) -> tuple[int, int, dict[str, str]]:
    """Replace the workspace's rows with the snapshot's; write its files before committing.

    Return how many rows came back, how many of them got a new id, and what each module
    said it did (the jobs module: which jobs it queued again).
    """
    saved = workspace_tables(conn, "snapshot")
    tables = workspace_tables(conn)
    info = dict(conn.execute("select key, value from snapshot.snapshot_info").fetchall())
    taken_of = info.get("workspace", workspace)  # a hand-out's: the workspace it was taken of
    kept = set(KEPT_BY_STUDENT) if handout else set()
    emptied = not_handed_out() if handout else set()
    restored, said = 0, {}
    try:
        with conn:  # one transaction: every table at once, or none
            conn.execute("BEGIN IMMEDIATE")  # writers wait; readers see the old state till commit
            for table in tables:
                if table not in kept:
                    conn.execute(f'delete from main."{table}" where workspace = ?', (workspace,))
            carried = [t for t in tables if t in saved and t not in kept | emptied]
            renumbered = _new_ids(conn, taken_of, carried)
            for table in carried:
                shared = [c for c in tables[table] if c in saved[table]]
                # Every row lands in this workspace, whichever workspace it was saved from.
                values = ", ".join(
                    "?" if c == "workspace" else _value(conn, table, c) for c in shared
                )
                names = ", ".join(f'"{c}"' for c in shared)
                cursor = conn.execute(
                    f'insert into main."{table}" ({names}) select {values} '
                    f'from snapshot."{table}" as s where s.workspace = ?',
                    (workspace, taken_of),
                )
                restored += cursor.rowcount
            conn.execute("drop table temp.snapshot_ids")
            if handout:
                _hand_out_files(conn, workspace, taken_of)
            for module in registry().modules.values():  # on or off: their rows came back
                if module.restored is not None:
                    words = module.restored(conn, workspace)
                    if words:
                        said[module.name] = words
            if not handout:
                _restore_files(conn, workspace)
    except sqlite3.IntegrityError as error:
        raise SnapshotConflict(
            "The snapshot's rows clash with rows made since by another workspace "
            f"({error}), so nothing was restored. Take a new snapshot of what you have, "
            "or POST /sandbox/reset to start over."
        ) from None
    return restored, renumbered, said


def _hand_out_files(conn: sqlite3.Connection, workspace: str, taken_of: str) -> None:
    """Let each module make a hand-out's rows this workspace's own, with the files saved."""
    saved = dict(conn.execute("select path, content from snapshot.snapshot_files").fetchall())
    for module in registry().modules.values():
        if module.handed_out is None or module.snapshot_files is None:
            continue
        # The files the module names for the workspace the hand-out was taken of: read here,
        # never written (that workspace's key stays that workspace's alone).
        files = {p: saved[p] for p in module.snapshot_files(taken_of) if p in saved}
        module.handed_out(conn, workspace, files)


# In a class every student's notes share one table, and one sequence of ids: SQLite gives
# the highest id again once its row is gone. So a note you deleted after your snapshot may
# have been followed by a classmate's note with the same id. Such rows come back under new
# ids (and the rows that point at them, through a declared foreign key, follow).


def _integer_key(conn: sqlite3.Connection, table: str) -> str | None:
    """Return the table's INTEGER PRIMARY KEY column (SQLite's row id), if it has one."""
    keys = [r for r in conn.execute(f'pragma main.table_info("{table}")') if r[5]]
    return keys[0][1] if len(keys) == 1 and keys[0][2].upper() == "INTEGER" else None


def _new_ids(conn: sqlite3.Connection, workspace: str, tables: list[str]) -> int:
    """Pick a new id for each row saved of ``workspace`` whose id another row now holds."""
    conn.execute(
        "create temp table if not exists snapshot_ids "
        "(tbl text, old integer, new integer, primary key (tbl, old))"
    )
    conn.execute("delete from temp.snapshot_ids")
    count = 0
    for table in tables:
        key = _integer_key(conn, table)
        if key is None:
            continue
        # New ids above every id in use and every id coming back, in the rows' order.
        cursor = conn.execute(
            f'insert into temp.snapshot_ids (tbl, old, new) select ?, s."{key}", '
            f'max(coalesce((select max("{key}") from main."{table}"), 0), '
            f'(select max("{key}") from snapshot."{table}" where workspace = ?)) '
            f'+ row_number() over (order by s."{key}") '
            f'from snapshot."{table}" as s where s.workspace = ? '
            f'and s."{key}" in (select "{key}" from main."{table}")',
            (table, workspace, workspace),
        )
        count += cursor.rowcount
    return count


def _value(conn: sqlite3.Connection, table: str, column: str) -> str:
    """Return the SQL that reads a saved column, with a renumbered id where one applies."""
    owner = table if column == _integer_key(conn, table) else None
    for link in conn.execute(f'pragma main.foreign_key_list("{table}")'):
        if link[3] == column:  # (id, seq, table, from, to, ...): it points at another table
            owner = link[2]
    if owner is None:
        return f's."{column}"'
    return (
        f"coalesce((select new from temp.snapshot_ids where tbl = '{owner}' "
        f'and old = s."{column}"), s."{column}")'
    )


def _restore_files(conn: sqlite3.Connection, workspace: str) -> None:
    """Put back the files the modules keep for the workspace, as saved."""
    saved = dict(conn.execute("select path, content from snapshot.snapshot_files").fetchall())
    data_dir = Path(current_app.instance_path)
    # Only the files the modules name now: a snapshot file's own list is not trusted with paths.
    for relative in module_files(workspace):
        if relative not in saved:
            continue  # none then: the one here now stays (a key is never deleted by a restore)
        _write_atomically(data_dir / relative, saved[relative])


def _write_atomically(path: Path, content: bytes) -> None:
    """Replace a file in one step, readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)  # a reader finds the old file or the new, never half
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def delete(name: str) -> None:
    """Delete one of this workspace's snapshots."""
    path = path_of(name)
    if not path.is_file():
        raise NotFound(_unknown(name))
    path.unlink()
    event("sandbox", f"snapshot '{name}' deleted")


def _unknown(name: str) -> str:
    names = ", ".join(s["name"] for s in listing()) or "none yet"
    return (
        f"This workspace has no snapshot named '{name}'. Its snapshots: {names}. "
        'POST /sandbox/snapshots with {"name": ...} takes one.'
    )
