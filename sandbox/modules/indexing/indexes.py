"""Indexes: the learner's (made from a whitelist, never from SQL they send) and the sandbox's.

An index is a second, sorted copy of some columns of a table, each entry pointing at its
row: a B-tree that SQLite walks down in a few steps instead of reading every row.

Who owns an index is the tricky part. An index belongs to a table, and a table to the
database file: in a class, every student's orders are rows of the *same* table, so one
student's index is used (and paid for at every insert) by everybody's queries. The
module cannot change that, so it makes the rest safe: a learner's index is named after
their workspace (``ix_<workspace>_orders_customer``), the module keeps who made it
(the ``indexing_indexes`` table), and only its maker may drop it. The sandbox's own
indexes (those in the ``schema.sql`` files) are dropped only by switching the module off,
and in a class not even then (see ``__init__.py``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from flask import Flask

from sandbox import db
from sandbox.errors import NotFound, SandboxError, ValidationFailed

# The tables and columns a learner may index. The DDL is built from these names only:
# whatever the request says is looked up here, and a name that is not here is refused.
WHITELIST = {
    "orders": ("workspace", "customer", "product", "status", "amount", "quantity", "created_at"),
    "notes": ("workspace", "owner", "title", "created_at", "updated_at"),
}
MAX_COLUMNS = 4
# Each index is paid for at every insert, by the whole table (a class's, too): a cap.
MAX_PER_WORKSPACE = 6

# "CREATE INDEX IF NOT EXISTS name ON table (columns);" in a schema.sql file.
_SCHEMA_INDEX = re.compile(
    r"create\s+index\s+if\s+not\s+exists\s+(\w+)\s+on\s+(\w+)\s*\(([^)]*)\)", re.I
)


class IndexConflict(SandboxError):
    """The index cannot be made: it exists, or the learner has made as many as allowed."""

    status = 409
    title = "Index conflict"


class NotYours(SandboxError):
    """The index is the sandbox's own: the learner may not drop it by name."""

    status = 403
    title = "Not your index"


def sandbox_indexes(schema_sql: str) -> list[tuple[str, str, str]]:
    """Return ``(name, table, CREATE INDEX statement)`` for each index of the schema files.

    Read from the files (the core's and every module's ``schema.sql``), so this module
    names none of them: a module that adds an index to its schema gets it switched too.
    """
    return [(m.group(1), m.group(2), m.group(0)) for m in _SCHEMA_INDEX.finditer(schema_sql)]


def drop_sandbox_indexes(conn: sqlite3.Connection, schema_sql: str) -> list[str]:
    """Drop the sandbox's own indexes; return the names of those that existed."""
    dropped = []
    for name, _, _ in sandbox_indexes(schema_sql):
        if exists(conn, name):
            conn.execute(f'drop index "{name}"')  # a name read from our own schema files
            dropped.append(name)
    return dropped


def create_sandbox_indexes(conn: sqlite3.Connection, schema_sql: str) -> list[str]:
    """Make the sandbox's own indexes again; return the names of those that were missing."""
    made = []
    for name, _, statement in sandbox_indexes(schema_sql):
        if not exists(conn, name):
            conn.execute(statement)
            made.append(name)
    return made


def exists(conn: sqlite3.Connection, name: str) -> bool:
    """Return whether the database has an index of this name."""
    return (
        conn.execute(
            "select 1 from sqlite_master where type = 'index' and name = ?", [name]
        ).fetchone()
        is not None
    )


def index_name(workspace: str, table: str, columns: list[str]) -> str:
    """Return the name of a learner's index: whose it is, on what, in which order."""
    return f"ix_{workspace}_{table}_{'_'.join(columns)}"


def check_request(data: dict[str, Any]) -> tuple[str, list[str]]:
    """Return (table, columns) from a request body, or raise a 422 naming what is allowed."""
    errors = []
    table = data.get("table")
    columns = data.get("columns")
    if not isinstance(table, str) or table not in WHITELIST:
        errors.append(
            {
                "field": "table",
                "message": f"One of: {', '.join(WHITELIST)}.",
            }
        )
    if (
        not isinstance(columns, list)
        or not 1 <= len(columns) <= MAX_COLUMNS
        or not all(isinstance(c, str) for c in columns)
    ):
        errors.append(
            {
                "field": "columns",
                "message": f"A list of 1 to {MAX_COLUMNS} column names, "
                'in index order, e.g. ["customer", "created_at"].',
            }
        )
    elif table in WHITELIST:
        allowed = WHITELIST[table]
        unknown = [c for c in columns if c not in allowed]
        if unknown:
            errors.append(
                {
                    "field": "columns",
                    "message": f"{table} has no column {unknown[0]!r} that may be indexed. "
                    f"Columns: {', '.join(allowed)}.",
                }
            )
        elif len(set(columns)) != len(columns):
            errors.append({"field": "columns", "message": "Each column at most once."})
    if errors:
        raise ValidationFailed(errors)
    return table, columns


def create(conn: sqlite3.Connection, workspace: str, table: str, columns: list[str]) -> dict:
    """Make a learner's index, in one transaction with its bookkeeping; return it."""
    name = index_name(workspace, table, columns)
    # Every name below comes from WHITELIST (checked above) or from the workspace id, which
    # the server made ([a-z0-9]): nothing the request said is pasted into SQL.
    ddl = f"create index {name} on {table} ({', '.join(columns)})"
    with conn:
        conn.execute("BEGIN IMMEDIATE")  # the write lock: the cap and the name stay true
        if exists(conn, name):
            raise IndexConflict(
                f"The index {name} exists already. List them with GET /indexing/indexes, "
                f"or drop it first: DELETE /indexing/indexes/{name}."
            )
        mine = conn.execute(
            "select count(*) from indexing_indexes where workspace = ?", [workspace]
        ).fetchone()[0]
        if mine >= MAX_PER_WORKSPACE:
            raise IndexConflict(
                f"You have {mine} indexes, the most one workspace may have: every index "
                "slows every insert into its table. Drop one you no longer need "
                "(DELETE /indexing/indexes/<name>)."
            )
        before = _pages(conn)
        conn.execute(ddl)
        pages = _pages(conn) - before
        conn.execute(
            "insert into indexing_indexes (name, workspace, table_name, columns, pages, "
            "created_at) values (?, ?, ?, ?, ?, ?)",
            [name, workspace, table, json.dumps(columns), pages, db.now()],
        )
    return {"name": name, "table": table, "columns": columns, "sql": ddl}


def _pages(conn: sqlite3.Connection) -> int:
    """Return the pages in use: the file's pages less the free ones."""
    total = conn.execute("pragma page_count").fetchone()[0]
    return total - conn.execute("pragma freelist_count").fetchone()[0]


def drop(conn: sqlite3.Connection, workspace: str, name: str, schema_sql: str) -> None:
    """Drop one of this workspace's indexes, or raise a problem saying why not."""
    if name in {n for n, _, _ in sandbox_indexes(schema_sql)}:
        raise NotYours(
            f"{name} is one of the sandbox's own indexes, which its own queries rely on. "
            "Switching the indexing module off drops them (not in a class, where they serve "
            'everybody): PATCH /sandbox/modules/indexing {"enabled": false}.'
        )
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(
            "select 1 from indexing_indexes where name = ? and workspace = ?", [name, workspace]
        ).fetchone()
        if row is None:
            # Another workspace's index is "not found" too: whose indexes exist is theirs.
            raise NotFound(f"You have no index named {name!r}. GET /indexing/indexes lists yours.")
        conn.execute(f"drop index if exists {name}")  # a name from our own table
        conn.execute("delete from indexing_indexes where name = ?", [name])


def drop_all(conn: sqlite3.Connection, workspace: str) -> list[str]:
    """Drop every index of a workspace, inside the caller's transaction; return their names."""
    names = [
        r[0]
        for r in conn.execute(
            "select name from indexing_indexes where workspace = ?", [workspace]
        ).fetchall()
    ]
    for name in names:
        conn.execute(f'drop index if exists "{name}"')
    conn.execute("delete from indexing_indexes where workspace = ?", [workspace])
    return names


def match_rows(conn: sqlite3.Connection, workspace: str) -> None:
    """Make the workspace's indexes the ones its rows list (after a snapshot's restore).

    The rows came back from the snapshot; the indexes are the file's, as they were before.
    An index listed but missing is made again; one made since, and not listed, is dropped.
    """
    listed = set()
    for name, table, columns in conn.execute(
        "select name, table_name, columns from indexing_indexes where workspace = ?", [workspace]
    ).fetchall():
        columns = json.loads(columns)
        # Rebuilt from WHITELIST names only, like create(): never SQL read from a file.
        if (
            table not in WHITELIST
            or not set(columns) <= set(WHITELIST[table])
            or (name != index_name(workspace, table, columns))
        ):
            conn.execute("delete from indexing_indexes where name = ?", [name])
            continue
        listed.add(name)
        conn.execute(f"create index if not exists {name} on {table} ({', '.join(columns)})")
    prefix = f"ix_{workspace}_"
    for (name,) in conn.execute(
        "select name from sqlite_master where type = 'index' and substr(name, 1, ?) = ?",
        [len(prefix), prefix],
    ).fetchall():
        if name not in listed:
            conn.execute(f'drop index if exists "{name}"')


def listing(conn: sqlite3.Connection, workspace: str, schema_sql: str) -> dict[str, Any]:
    """Return this workspace's indexes and the sandbox's, each with its size."""
    sizes, how = sizes_of(conn)
    mine = [
        {
            "name": r["name"],
            "table": r["table_name"],
            "columns": json.loads(r["columns"]),
            "owner": "you",
            "droppable": True,
            "bytes": sizes.get(r["name"], (r["pages"] or 0) * _page_size(conn)),
            "created_at": r["created_at"],
        }
        for r in conn.execute(
            "select * from indexing_indexes where workspace = ? order by created_at, name",
            [workspace],
        ).fetchall()
    ]
    present = {
        r[0] for r in conn.execute("select name from sqlite_master where type = 'index'").fetchall()
    }
    own = [
        {
            "name": name,
            "table": table,
            "columns": columns_of(statement),
            "owner": "sandbox",
            "droppable": False,
            "bytes": sizes.get(name),
        }
        for name, table, statement in sandbox_indexes(schema_sql)
        if name in present
    ]
    others = conn.execute(
        "select count(*) from indexing_indexes where workspace != ?", [workspace]
    ).fetchone()[0]
    return {
        "indexes": mine + own,
        "size_from": how,
        "other_workspaces_indexes": others,
        "tables": {t: list(c) for t, c in WHITELIST.items()},
    }


def columns_of(statement: str) -> list[str]:
    """Return the columns of a CREATE INDEX statement, in order."""
    match = _SCHEMA_INDEX.search(statement)
    return [c.strip() for c in match.group(3).split(",")] if match else []


def sizes_of(conn: sqlite3.Connection) -> tuple[dict[str, int], str]:
    """Return {index name: bytes} and where the sizes came from.

    SQLite's ``dbstat`` table lists every page of the file and the B-tree it belongs to:
    exact. It is an optional part of SQLite (most builds, Python's included, have it);
    without it, a learner's index's size is what the file grew by when it was made.
    """
    try:
        rows = conn.execute(
            "select name, pgsize from dbstat where aggregate = 1 and name in "
            "(select name from sqlite_master where type = 'index')"
        ).fetchall()
    except sqlite3.OperationalError:
        return {}, "pages the file grew by when each index was made (no dbstat in this SQLite)"
    return {name: size for name, size in rows}, "dbstat (the pages of each index's B-tree)"


def _page_size(conn: sqlite3.Connection) -> int:
    return conn.execute("pragma page_size").fetchone()[0]


def schema_of(app: Flask) -> str:
    """Return every schema file's SQL (the core's and each module's)."""
    return app.extensions["sandbox.registry"].schema_sql()


def mine(workspace: str, table: str) -> list[dict[str, Any]]:
    """Return a workspace's indexes on a table, oldest first (read aside, not recorded)."""
    conn = db.connect(db.database_path(), traced=False)  # bookkeeping, not the learner's
    try:
        rows = conn.execute(
            "select name, columns from indexing_indexes where workspace = ? and table_name = ? "
            "order by created_at, name",
            [workspace, table],
        ).fetchall()
    finally:
        conn.close()
    return [{"name": r["name"], "columns": json.loads(r["columns"])} for r in rows]
