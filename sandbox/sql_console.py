"""SQL console: run a learner's SELECT on a connection that cannot change anything.

Three locks, because one is never enough for security:
1. the file is opened read-only (``mode=ro``), so the engine refuses writes;
2. an authorizer allows only reading actions, so ``ATTACH`` (which could create
   or write another file) and ``PRAGMA x = y`` are refused before they run;
3. limits on what one query may cost: a progress handler stops a query that runs
   past the time limit; SQLite's own length limit stops any single value (or row)
   from growing past the byte limit inside the engine; and the answer is measured
   row by row, so a query that returns too much is stopped, not sent.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from typing import Any

from .errors import SandboxError
from .validation import is_blank

# PRAGMAs that only read. Asked with no value they report a setting; these first ones
# also take a table or index name (table_info(notes)), which is a read too.
NAMED_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
}
READ_PRAGMAS = NAMED_PRAGMAS | {
    "table_list",
    "database_list",
    "compile_options",
    "journal_mode",
    "page_count",
    "page_size",
    "user_version",
    "data_version",
}

_READING = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION}
_RECURSIVE = getattr(sqlite3, "SQLITE_RECURSIVE", 33)

_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH opens another database file",
    sqlite3.SQLITE_DETACH: "DETACH changes the connection",
    sqlite3.SQLITE_INSERT: "INSERT writes",
    sqlite3.SQLITE_UPDATE: "UPDATE writes",
    sqlite3.SQLITE_DELETE: "DELETE writes",
    sqlite3.SQLITE_TRANSACTION: "transactions are for writing",
    sqlite3.SQLITE_SAVEPOINT: "savepoints are for writing",
}


# SQLite's default is 2000 columns: 2000 values of a megabyte each would be one row of 2 GB.
# Wider than any table here (9 columns) or a join of two; narrow enough that the widest row
# of the longest values stays a few tens of MB while it is read.
COLUMN_LIMIT = 20


class SQLRefused(SandboxError):
    """A statement the read-only console will not run."""

    title = "SQL refused"


class AnswerTooLarge(SQLRefused):
    """The query would answer with more bytes than the console sends."""

    title = "SQL answer too large"


def run(
    path: Any,
    sql: str,
    *,
    explain: bool,
    row_limit: int,
    time_limit_ms: int,
    byte_limit: int,
    trace: Any = None,
    workspace: str | None = None,
) -> dict[str, Any]:
    """Run one read-only statement and return its columns, rows and, if asked, its plan.

    With ``workspace`` (class mode), the statement runs on a copy of that workspace's
    rows alone: a student's SQL can name any table and still see nobody else's data.
    """
    if is_blank(sql):
        raise SQLRefused(
            "The 'sql' field is empty. Send a statement such as 'select * from notes limit 5'."
        )
    refused: list[str] = []
    # "EXPLAIN QUERY PLAN explain ..." is not SQL: an EXPLAIN's own rows are its plan.
    explains = sql.lstrip().upper().startswith("EXPLAIN")

    def authorizer(action: int, arg1: Any, arg2: Any, db_name: Any, source: Any) -> int:
        if action in _READING or action == _RECURSIVE:
            return sqlite3.SQLITE_OK
        if (
            action == sqlite3.SQLITE_PRAGMA
            and arg1 in READ_PRAGMAS
            and (arg2 is None or arg1 in NAMED_PRAGMAS)
        ):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
            # SQLite asks this when a table-valued function (json_each, pragma_table_info)
            # is first used; the file is open read-only, so no real write could succeed.
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA:
            refused.append(
                f"PRAGMA {arg1}{' = ' + str(arg2) if arg2 else ''} is not one of the "
                f"read-only PRAGMAs allowed here ({', '.join(sorted(READ_PRAGMAS))})"
            )
        else:
            refused.append(_ACTIONS.get(action, "only reading statements (SELECT) are allowed"))
        return sqlite3.SQLITE_DENY

    if workspace is None:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)
    else:
        conn = workspace_copy(path, workspace)
    try:
        limit_values(conn, byte_limit)
        deadline = time.monotonic() + time_limit_ms / 1000
        answer = Answer(row_limit, byte_limit, deadline)
        conn.text_factory = answer.text
        if trace is not None:
            conn.set_trace_callback(trace)
        conn.set_authorizer(authorizer)
        # Called every 1000 virtual-machine steps; a non-zero answer interrupts the query.
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        started = time.perf_counter()
        try:
            cursor = conn.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            for row in cursor:
                if not answer.add(row):
                    break
            plan = _plan(conn, sql) if explain and not explains else None
        # sqlite3.Warning: "one statement at a time" on Python 3.11 (an Error from 3.12).
        except (sqlite3.Error, sqlite3.Warning) as error:
            raise _explain_refusal(error, refused, time_limit_ms, byte_limit) from None
        elapsed = round((time.perf_counter() - started) * 1000, 3)
    finally:
        conn.close()
    result: dict[str, Any] = {
        "columns": columns,
        "rows": answer.rows,
        "truncated": answer.truncated,
        "blob_columns": [columns[i] for i in sorted(answer.blobs)],
        "duration_ms": elapsed,
    }
    notes = []
    if answer.truncated:
        notes.append(f"Only the first {row_limit} rows are shown; add a LIMIT or a WHERE.")
    if answer.blobs:
        notes.append(
            f"{', '.join(repr(c) for c in result['blob_columns'])} held binary data (BLOBs): "
            "JSON has no bytes, so each is shown as a hex literal, x'00ff' for the bytes 00 ff."
        )
    if explain and explains:
        notes.append("The statement is itself an EXPLAIN: its rows are the plan.")
    if answer.infinite:
        notes.append('JSON has no infinity: an infinite number is shown as "Infinity".')
    if notes:
        result["note"] = " ".join(notes)
    if plan is not None:
        result["plan"] = plan
    return result


def workspace_copy(path: Any, workspace: str) -> sqlite3.Connection:
    """Return an in-memory database with one workspace's rows of every table, and nothing else.

    Filtering the learner's query is not enough: SQL has too many ways to name a table
    (main.notes, a CTE, a subquery) for a rule about names to close them all. A database
    that holds only your rows has nothing else to leak, whatever the query says. Tables
    without a workspace column (the class's own) are left out; indexes are copied, so
    query plans are the real ones.
    """
    conn = sqlite3.connect("file::memory:", uri=True)
    conn.execute("ATTACH DATABASE ? AS source", (f"{path.as_uri()}?mode=ro",))
    copied = []
    tables = conn.execute(
        "select name, sql from source.sqlite_master where type = 'table' "
        "and name not like 'sqlite_%'"
    ).fetchall()
    for name, create in tables:
        columns = {
            row[1] for row in conn.execute("select * from pragma_table_info(?, 'source')", (name,))
        }
        if "workspace" not in columns:
            continue
        conn.execute(create)  # CREATE TABLE name (...), in the in-memory database
        conn.execute(
            f'insert into main."{name}" select * from source."{name}" where workspace = ?',
            (workspace,),
        )
        copied.append(name)
    for (create,) in conn.execute(
        "select sql from source.sqlite_master where type = 'index' and sql is not null "
        f"and tbl_name in ({', '.join('?' * len(copied))})",
        copied,
    ).fetchall():
        conn.execute(create)
    conn.commit()
    conn.execute("DETACH DATABASE source")
    return conn


def limit_values(conn: sqlite3.Connection, byte_limit: int) -> None:
    """Make SQLite itself refuse a value longer than half the answer, and very wide rows."""
    # Half: a BLOB shows as hex, two characters a byte, so the longest one still fits.
    # setlimit is Python 3.11+. Without it the answer is still measured as it is read,
    # but one value may grow large inside SQLite before that (hex(zeroblob(2e8)) takes
    # 400 MB for a moment): use Python 3.11 or later for a sandbox left running.
    if hasattr(conn, "setlimit"):
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, max(byte_limit // 2, 1))
        conn.setlimit(sqlite3.SQLITE_LIMIT_COLUMN, COLUMN_LIMIT)


class Answer:
    """The rows of an answer, measured as they are read, within a row and a byte limit."""

    def __init__(self, row_limit: int, byte_limit: int, deadline: float):
        self.row_limit, self.byte_limit, self.deadline = row_limit, byte_limit, deadline
        self.rows: list[list[Any]] = []
        self.size = 2  # bytes of JSON so far: "[]", then each row and its comma
        self.text_read = 0
        self.blobs: set[int] = set()
        self.infinite = self.truncated = False

    def text(self, data: bytes) -> str:
        """Decode one text value; refuse as soon as the text read outgrows the answer."""
        # sqlite3 calls this (the connection's text_factory) for each text value while it
        # builds a row, so a row of many long values is refused before it is all in memory.
        self.text_read += len(data)
        if self.text_read > self.byte_limit:
            raise self.too_large()
        # Text that is not valid UTF-8 (cast(x'ff' as text)) is shown with U+FFFD, not refused.
        return data.decode("utf-8", errors="replace")

    def add(self, row: tuple[Any, ...]) -> bool:
        """Keep one row; return False once the row limit is reached."""
        if len(self.rows) == self.row_limit:
            self.truncated = True
            return False
        if time.monotonic() > self.deadline:
            raise sqlite3.OperationalError("interrupted")  # explained like SQLite's own
        # What the row will take at least, before building anything from it.
        least = sum(2 * len(v) + 5 if isinstance(v, bytes) else 1 for v in row)
        if self.size + least > self.byte_limit:
            raise self.too_large()
        shown = [self._shown(index, value) for index, value in enumerate(row)]
        self.size += len(json.dumps(shown)) + 1
        if self.size > self.byte_limit:
            raise self.too_large()
        self.rows.append(shown)
        return True

    def _shown(self, index: int, value: Any) -> Any:
        if isinstance(value, bytes):
            self.blobs.add(index)
            return f"x'{value.hex()}'"
        if isinstance(value, float) and math.isinf(value):
            self.infinite = True
            return "Infinity" if value > 0 else "-Infinity"
        return value

    def too_large(self) -> AnswerTooLarge:
        """Return the problem for an answer over the byte limit."""
        return AnswerTooLarge(
            f"The answer is over the console's limit of {self.byte_limit:,} bytes "
            f"(SANDBOX_SQL_BYTE_LIMIT) after {len(self.rows)} row(s). Ask for less: fewer "
            "columns, a LIMIT, or part of each long value, e.g. substr(body, 1, 200) "
            "or length(body).",
            limit="SANDBOX_SQL_BYTE_LIMIT",
            limit_bytes=self.byte_limit,
        )


def _plan(conn: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    """Return SQLite's query plan: how it will find the rows (an index, or a full scan)."""
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
    return [{"id": r[0], "parent": r[1], "detail": r[3]} for r in rows]


def _explain_refusal(
    error: Exception, refused: list[str], time_limit_ms: int, byte_limit: int
) -> SQLRefused:
    message = str(error)
    if isinstance(error, sqlite3.DataError) or "too big" in message:
        return AnswerTooLarge(
            f"A single value would be over the console's limit of {max(byte_limit // 2, 1):,} "
            "bytes (half of SANDBOX_SQL_BYTE_LIMIT, set as SQLite's own length limit on "
            "this connection), so SQLite stopped the query. Ask for part of it: "
            "substr(body, 1, 200), length(body) or hex(substr(data, 1, 100)).",
            limit="SANDBOX_SQL_BYTE_LIMIT",
            limit_bytes=byte_limit,
        )
    if "too many columns" in message:
        return SQLRefused(
            f"The console answers at most {COLUMN_LIMIT} columns (SQLite said: {message}). "
            "Name the columns you need instead."
        )
    if refused:
        return SQLRefused(
            f"This console is read-only: {refused[0]}. Use SELECT to read data; "
            "change data through the API."
        )
    if "interrupted" in message:
        return SQLRefused(
            f"The query ran longer than the limit of {time_limit_ms} ms and was "
            "stopped. Add a WHERE or a LIMIT, or check a recursive query ends."
        )
    if "readonly" in message or "read-only" in message:
        return SQLRefused("This console is read-only: the statement tried to write. Use SELECT.")
    if "one statement at a time" in message:
        return SQLRefused("Send one statement at a time (remove the extra ';...').")
    return SQLRefused(f"SQLite could not run the statement: {message}.")
