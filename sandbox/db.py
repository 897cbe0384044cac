"""Database: one SQLite connection per request, every statement shown in the record.

SQLite keeps the whole database in one file in the data dir. Each request that
needs it opens its own connection (cheap for SQLite) and closes it at teardown,
the pattern flaskr teaches. sqlite3's trace callback hands us every statement
the engine runs, including the ones sqlite-utils issues on its own, so the
request record can show a learner exactly what SQL their click caused.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import sqlite_utils
from flask import Flask, current_app, g

from . import workspaces
from .record import current_record

SCHEMA_VERSION = "1"
DATABASE_FILE = "sandbox.db"

SEED_NOTES = [
    {
        "title": "Welcome to the sandbox",
        "body": "Every request you send is recorded. Open GET /sandbox/traces to see them.",
        "tags": ["welcome"],
    },
    {
        "title": "HTTP in one line",
        "body": "A client sends a request (method, path, headers, body); "
        "the server answers with a status, headers and a body.",
        "tags": ["server", "http"],
    },
    {
        "title": "Where data lives",
        "body": "These notes live in SQLite, a database in a single file. "
        "Try sb.sql('select * from notes') in a notebook.",
        "tags": ["database"],
    },
]


def now() -> str:
    """Return the current UTC time as ISO 8601, the format every table uses."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def workspace() -> str:
    """Return the workspace whose state this request reads and writes (see workspaces.py)."""
    return workspaces.current()


def database_path(app: Flask | None = None) -> Path:
    """Return the path of the SQLite file in the data dir."""
    return Path((app or current_app).instance_path) / DATABASE_FILE


def _printable(params: Any) -> Any:
    """Make statement parameters JSON-friendly and short enough for a record."""
    if params is None:
        return None
    if isinstance(params, dict):
        return {k: _printable_value(v) for k, v in params.items()}
    return [_printable_value(v) for v in params]


def _printable_value(value: Any) -> Any:
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str) and len(value) > 200:
        return value[:200] + "..."
    return value


class TracedConnection(sqlite3.Connection):
    """A connection that times each statement and keeps its parameters for the record.

    The trace callback (set in :func:`connect`) already adds every statement the
    engine runs; this wrapper adds what the callback cannot know: the statement
    as written, with ``?`` placeholders, its parameters and how long it took.
    """

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        record = current_record()
        if record is None:
            return super().execute(sql, parameters)
        mark, start = len(record.sql), time.perf_counter()
        error = None
        try:
            return super().execute(sql, parameters)
        except sqlite3.Error as e:
            error = str(e)
            raise
        finally:
            duration = round((time.perf_counter() - start) * 1000, 3)
            # The engine may have run an implicit BEGIN first; the statement is the next one
            # (unless the statement is itself a BEGIN, such as BEGIN IMMEDIATE).
            explicit = sql.lstrip()[:5].upper() == "BEGIN"
            added = [e for e in record.sql[mark:] if explicit or not e["sql"].startswith("BEGIN")]
            if added:
                entry = added[0]
                entry.update(
                    sql=sql,
                    params=_printable(parameters) if parameters else None,
                    duration_ms=duration,
                )
            else:  # failed before the engine ran it (a syntax error, say)
                record.add_sql(sql, _printable(parameters) if parameters else None, duration)
                entry = record.sql[-1] if record.sql else {}
            if error:
                entry["error"] = error


def trace_statement(statement: str) -> None:
    """Add a statement the engine is about to run to the current record."""
    record = current_record()
    if record is not None:
        record.add_sql(statement)


def connect(path: Path, *, traced: bool = True) -> sqlite3.Connection:
    """Open a connection to the sandbox database."""
    # timeout: wait up to 5 s for another writer instead of failing at once.
    conn = sqlite3.connect(
        path, timeout=5, factory=TracedConnection if traced else sqlite3.Connection
    )
    conn.row_factory = sqlite3.Row
    if traced:
        conn.set_trace_callback(trace_statement)
    return conn


def get_db() -> sqlite_utils.Database:
    """Return this request's database, opening its connection on first use."""
    if "db" not in g:
        conn = connect(database_path())
        # No plugins and no per-connection PRAGMA: nothing runs that the request did not ask for.
        g.db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    return g.db


def close_db(error: BaseException | None = None) -> None:
    """Close this request's connection, if it opened one."""
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def schema_sql() -> str:
    """Return the text of schema.sql, the tables every data dir starts with."""
    return resources.files("sandbox").joinpath("schema.sql").read_text(encoding="utf-8")


def init_db(app: Flask) -> None:
    """Create the tables if needed and seed a new database."""
    path = database_path(app)
    conn = connect(path, traced=False)
    try:
        # WAL lets readers read while a writer writes; the setting is kept in the file.
        conn.execute("PRAGMA journal_mode=wal")
        conn.executescript(schema_sql())
        seeded = conn.execute("select value from sandbox_meta where key = 'seeded_at'").fetchone()
        if seeded is None:
            with conn:
                seed(conn, app.config["SANDBOX_WORKSPACE"])
                conn.execute(
                    "insert or replace into sandbox_meta (key, value) values "
                    "('schema_version', ?), ('seeded_at', ?)",
                    (SCHEMA_VERSION, now()),
                )
    finally:
        conn.close()


def seed(conn: sqlite3.Connection, workspace: str) -> None:
    """Insert the example data a new learner starts with."""
    stamp = now()
    conn.executemany(
        "insert into notes (workspace, owner, title, body, tags, created_at, updated_at) "
        "values (?, 'guest', ?, ?, ?, ?, ?)",
        [
            (workspace, n["title"], n["body"], json.dumps(n["tags"]), stamp, stamp)
            for n in SEED_NOTES
        ],
    )


def reset(conn: sqlite3.Connection, workspace: str) -> None:
    """Put a workspace's core data, toggles and progress back to the seeded start.

    Runs inside the caller's transaction (the registry's reset), after every module
    has emptied its own tables.
    """
    for table in ("notes", "module_state", "progress"):
        conn.execute(f"delete from {table} where workspace = ?", (workspace,))
    seed(conn, workspace)


def create_tables(app: Flask, sql: str) -> None:
    """Run a module's ``schema.sql`` (``CREATE TABLE IF NOT EXISTS ...``) on the database."""
    conn = connect(database_path(app), traced=False)
    try:
        conn.executescript(sql)
    finally:
        conn.close()


def wipe_dir(data_dir: Path) -> None:
    """Delete the database files in a data dir (for ``--reset``); the secret key is kept."""
    path = Path(data_dir) / DATABASE_FILE
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def init_app(app: Flask) -> None:
    """Create the database on first start and close connections after each request."""
    init_db(app)
    app.teardown_appcontext(close_db)
