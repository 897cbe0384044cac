"""Database: one SQLite connection per request, every statement shown in the record.

SQLite keeps the whole database in one file in the data dir. Each request that
needs it opens its own connection (cheap for SQLite) and closes it at teardown,
the pattern flaskr teaches. sqlite3's trace callback hands us every statement
the engine runs, including the ones sqlite-utils issues on its own, so the
request record can show a learner exactly what SQL their click caused.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
import time
from contextvars import ContextVar
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, g

from . import redact, workspaces
from .record import current_record

if TYPE_CHECKING:
    import sqlite_utils

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


# What a record keeps of SQL. Statements are written by the sandbox or typed in the console,
# so they are short; values can be whole note bodies, so a record keeps an excerpt only.
SQL_TEXT_KEPT = 1000
PARAM_KEPT = 200


def _printable(sql: str, params: Any) -> Any:
    """Make statement parameters JSON-friendly, short and free of secrets, for a record."""
    if params is None:
        return None
    if isinstance(params, dict):
        return {k: _printable_value(v, k) for k, v in params.items()}
    names = placeholder_names(sql)
    return [_printable_value(v, names[i] if i < len(names) else None) for i, v in enumerate(params)]


def _printable_value(value: Any, name: str | None) -> Any:
    if name is not None and redact.SECRET_NAME.search(name):
        return redact.REDACTED  # password_hash, token_hash, secret_hash: never in a record
    if isinstance(value, (bytes, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return redact.excerpt(value, PARAM_KEPT)
    return value


# Which column a "?" stands for, read from the statement: "insert into t (a, b) values (?, ?)"
# pairs them in order; "where a = ?", "set a = ?", "a like ?" name the one before.
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_INSERT_COLUMNS = re.compile(
    r"\binsert\b[^(]*?\binto\b\s*[\w.\"`\[\]]+\s*\(([^)]*)\)\s*values\s*", re.I
)
_COMPARED = re.compile(
    r"([A-Za-z_][\w.]*)[\"`\]]?\s*(?:=|==|!=|<>|<=|>=|<|>|\bis\b|\blike\b|\bglob\b|\bin\s*\()\s*$",
    re.I,
)


@functools.lru_cache(maxsize=256)  # the same few statements run again and again
def placeholder_names(sql: str) -> tuple[str | None, ...]:
    """Return the column each ``?`` of a statement is compared with or inserted into."""
    text = _STRING_LITERAL.sub("''", sql)  # a "?" inside a string is not a placeholder
    inserted: dict[int, str] = {}
    match = _INSERT_COLUMNS.search(text)
    if match:
        columns = [c.strip().strip('"`[]') for c in match.group(1).split(",")]
        inserted = _values_columns(text, match.end(), columns)
    names: list[str | None] = []
    for position, char in enumerate(text):
        if char != "?":
            continue
        if position in inserted:
            names.append(inserted[position])
            continue
        compared = _COMPARED.search(text, 0, position)
        names.append(compared.group(1).rsplit(".", 1)[-1] if compared else None)
    return tuple(names)


def _values_columns(text: str, start: int, columns: list[str]) -> dict[int, str]:
    """Map each "?" of ``values (?, ?), (?, ?)`` to its column, by its place in the tuple."""
    found: dict[int, str] = {}
    depth, column = 0, 0
    for position in range(start, len(text)):
        char = text[position]
        if char == "(":
            depth += 1
            if depth == 1:
                column = 0
        elif char == ")":
            depth -= 1
            if depth < 0:
                break
        elif char == "," and depth == 1:
            column += 1
        elif char == "?" and depth >= 1 and column < len(columns):
            found[position] = columns[column]
        elif depth == 0 and char not in " \t\n,":
            break  # past the last tuple: ON CONFLICT, RETURNING...
    return found


# While a statement runs through a traced cursor, the trace callback must not keep what the
# engine reports: since Python 3.11 that is the *expanded* statement, with every value
# written inline (a whole note body, a password hash). The cursor records the statement as
# written, with bounded, redacted parameters, instead.
_running: ContextVar[str | None] = ContextVar("sandbox_sql_running", default=None)


class TracedCursor(sqlite3.Cursor):
    """A cursor that times each statement and keeps it, as written, for the record."""

    def execute(self, sql: str, parameters: Any = (), /) -> TracedCursor:  # type: ignore[override]
        return self._traced(super().execute, sql, parameters, [parameters])

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> TracedCursor:  # type: ignore[override]
        rows = list(seq_of_parameters)  # kept: the record shows each row's (bounded) values
        return self._traced(super().executemany, sql, rows, rows)

    def executescript(self, sql_script: str, /) -> TracedCursor:  # type: ignore[override]
        # A script has no parameters: the trace callback keeps each statement as written.
        record = current_record()
        if record is None:
            return super().executescript(sql_script)
        mark = len(record.sql)
        try:
            return super().executescript(sql_script)
        except sqlite3.Error as error:
            if len(record.sql) == mark:  # failed before the engine ran anything
                record.add_sql(redact.excerpt(sql_script, SQL_TEXT_KEPT))
            if record.sql:
                record.sql[-1]["error"] = str(error)
            raise

    def _traced(self, run: Any, sql: str, argument: Any, param_sets: list[Any]) -> TracedCursor:
        record = current_record()
        if record is None:
            return run(sql, argument)
        token = _running.set(sql)
        start, error = time.perf_counter(), None
        try:
            return run(sql, argument)
        except sqlite3.Error as e:
            error = str(e)
            raise
        finally:
            _running.reset(token)
            duration = round((time.perf_counter() - start) * 1000, 3)
            text = redact.excerpt(sql, SQL_TEXT_KEPT)
            for index, params in enumerate(param_sets or [()]):
                record.add_sql(
                    text,
                    _printable(sql, params) if params else None,
                    duration if index == 0 else None,  # executemany: the whole call's time
                )
            if error and record.sql:
                record.sql[-1]["error"] = error


# SQLite lets one writer at a time hold a database; the others wait in its busy handler,
# which sleeps and retries (1 ms, 2 ms, 5 ms... then every 100 ms). A hundred requests
# retrying like that is a lottery: each release goes to whoever happens to retry first,
# and an unlucky one can wait past the timeout while the others win again and again.
# So every write transaction of this process takes a turn in a queue first (a lock, whose
# waiters sleep until it is free), and only then asks SQLite for its lock, which is free by
# then unless another process (the command line) holds it. A write transaction starts
# with BEGIN IMMEDIATE, or with the first INSERT, UPDATE or DELETE outside a transaction
# (Python's sqlite3 opens one there on its own), and ends at commit, rollback or close.
# Open connections kept between requests (see Pool): each holds a few hundred kB of cache.
POOL_SIZE = 8
WRITE_TURN_SECONDS = 30
BUSY_TIMEOUT_SECONDS = 5
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_write_turns: dict[str, threading.RLock] = {}
_write_turns_lock = threading.Lock()


def _write_turn(path: str) -> threading.RLock:
    with _write_turns_lock:
        # Reentrant: a thread already writing through one connection is not made to wait
        # for itself by a second one (SQLite would still refuse the second, as before).
        return _write_turns.setdefault(path, threading.RLock())


class Connection(sqlite3.Connection):
    """A connection whose write transactions wait for their turn among this process's."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any):
        super().__init__(database, *args, **kwargs)
        self._turn = _write_turn(str(database))
        self._has_turn = False

    def _wait_for_turn(self, sql: str) -> None:
        if self._has_turn:
            return
        head = sql.lstrip()[:15].upper()
        if head.startswith("BEGIN IMMEDIATE") or (
            head.startswith(_WRITES) and not self.in_transaction
        ):
            if not self._turn.acquire(timeout=WRITE_TURN_SECONDS):
                raise sqlite3.OperationalError("database is locked")  # answered as a 503
            self._has_turn = True

    def _give_turn_back(self) -> None:
        if self._has_turn and not self.in_transaction:
            self._has_turn = False
            self._turn.release()

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        self._wait_for_turn(sql)
        try:
            return self.cursor().execute(sql, parameters)
        finally:
            self._give_turn_back()  # a statement that wrote nothing (failed, or a read)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
        self._wait_for_turn(sql)
        try:
            return self.cursor().executemany(sql, seq_of_parameters)
        finally:
            self._give_turn_back()

    # `with conn:` commits or rolls back in C, without calling the methods below: each
    # way a transaction ends gives the turn back.
    def __exit__(self, *exc: Any) -> Any:
        try:
            return super().__exit__(*exc)
        finally:
            self._give_turn_back()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._give_turn_back()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._give_turn_back()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._has_turn:  # closed inside a transaction: SQLite rolled it back
                self._has_turn = False
                self._turn.release()


class TracedConnection(Connection):
    """A connection whose statements all go through :class:`TracedCursor`.

    ``Connection.execute`` is a shortcut for ``cursor().execute``; it is spelled out in
    :class:`Connection` so that every way of running SQL (execute, executemany,
    executescript, a cursor) is recorded the same way.
    """

    def cursor(self, factory: Any = TracedCursor) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory)

    def executescript(self, sql_script: str, /) -> sqlite3.Cursor:  # type: ignore[override]
        return self.cursor().executescript(sql_script)


def trace_statement(statement: str) -> None:
    """Add a statement the engine is about to run to the current record, bounded."""
    record = current_record()
    if record is None:
        return
    running = _running.get()
    if running is not None:
        # Inside a traced cursor: keep only the transaction the engine opens on its own
        # ("BEGIN "); the statement itself is recorded, as written, by the cursor.
        if statement.startswith("BEGIN") and running.lstrip()[:5].upper() != "BEGIN":
            record.add_sql(statement)
        return
    record.add_sql(redact.excerpt(statement, SQL_TEXT_KEPT))


def connect(
    path: Path, *, traced: bool = True, check_same_thread: bool = True
) -> sqlite3.Connection:
    """Open a connection to the sandbox database."""
    # timeout: wait for another process's writer (the command line) instead of failing at
    # once; this process's writers queue for their turn before they ask (see above).
    factory = TracedConnection if traced else Connection
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_SECONDS, factory=factory, check_same_thread=check_same_thread
    )
    conn.row_factory = sqlite3.Row
    if traced:
        conn.set_trace_callback(trace_statement)
    return conn


class Pool:
    """Open connections kept for the next request, instead of one opened per request.

    Opening a connection is cheap; its first statement is not: SQLite reads and parses the
    whole schema (every table and index) and maps the write-ahead log's index. Measured
    here: 755 us for a fresh connection's first SELECT, 13 us on one already open. So a
    request takes an open connection from the pool and gives it back when it ends; at most
    ``size`` wait there (more requests at once open more, and close them afterwards).
    """

    def __init__(self, path: Path, size: int):
        self.path, self.size = path, size
        self._idle: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()

    def take(self) -> sqlite_utils.Database:
        with self._lock:
            if self._idle:
                return self._idle.pop()  # the most recently used: its pages are warm
        # check_same_thread=False: a connection serves one request at a time, but not
        # always on the thread that opened it.
        conn = connect(self.path, check_same_thread=False)
        # Imported on first use, not at start: sqlite-utils imports numpy and pandas when they
        # are installed (0.25 s here), which a server that has not been asked anything yet
        # need not wait for (python app.py warms it up once it listens: see cli.serve).
        import sqlite_utils

        # No plugins and no per-connection PRAGMA: nothing runs that the request did not ask for.
        return sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)

    def give_back(self, database: sqlite_utils.Database) -> None:
        conn = database.conn
        if conn.in_transaction:
            conn.rollback()  # a request that failed mid-transaction: nothing half-done stays
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(database)
                return
        conn.close()


def get_db() -> sqlite_utils.Database:
    """Return this request's database connection, taken from the pool on first use."""
    if "db" not in g:
        g.db = current_app.extensions["sandbox.db_pool"].take()
    return g.db


def close_db(error: BaseException | None = None) -> None:
    """Give this request's connection back to the pool, if it took one."""
    db = g.pop("db", None)
    if db is not None:
        current_app.extensions["sandbox.db_pool"].give_back(db)


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


def wipe_dir(data_dir: Path) -> list[Path]:
    """Delete the database files in a data dir (for ``--reset``) and return those that existed.

    The secret key is kept: cookies and share links signed before the reset stay valid.
    """
    path = Path(data_dir) / DATABASE_FILE
    wiped = []
    for suffix in ("", "-wal", "-shm"):
        file = Path(f"{path}{suffix}")
        if file.exists():
            file.unlink()
            wiped.append(file)
    return wiped


def init_app(app: Flask) -> None:
    """Create the database on first start and close connections after each request."""
    init_db(app)
    app.extensions["sandbox.db_pool"] = Pool(database_path(app), POOL_SIZE)
    app.teardown_appcontext(close_db)
