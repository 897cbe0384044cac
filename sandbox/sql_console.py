"""SQL console: run a learner's SELECT on a connection that cannot change anything.

Three locks, because one is never enough for security:
1. the file is opened read-only (``mode=ro``), so the engine refuses writes;
2. an authorizer allows only reading actions, so ``ATTACH`` (which could create
   or write another file) and ``PRAGMA x = y`` are refused before they run;
3. a progress handler stops a query that runs past the time limit, and a row
   cap stops one that returns too much.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from .errors import SandboxError

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


class SQLRefused(SandboxError):
    """A statement the read-only console will not run."""

    title = "SQL refused"


def run(
    path: Any, sql: str, *, explain: bool, row_limit: int, time_limit_ms: int, trace: Any = None
) -> dict[str, Any]:
    """Run one read-only statement and return its columns, rows and, if asked, its plan."""
    if not sql.strip():
        raise SQLRefused(
            "The 'sql' field is empty. Send a statement such as 'select * from notes limit 5'."
        )
    refused: list[str] = []

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

    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1)
    try:
        if trace is not None:
            conn.set_trace_callback(trace)
        conn.set_authorizer(authorizer)
        deadline = time.monotonic() + time_limit_ms / 1000
        # Called every 1000 virtual-machine steps; a non-zero answer interrupts the query.
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        started = time.perf_counter()
        try:
            cursor = conn.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(row_limit + 1)
            plan = conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall() if explain else None
        # sqlite3.Warning: "one statement at a time" on Python 3.11 (an Error from 3.12).
        except (sqlite3.Error, sqlite3.Warning) as error:
            raise _explain_refusal(error, refused, time_limit_ms) from None
        elapsed = round((time.perf_counter() - started) * 1000, 3)
    finally:
        conn.close()
    result: dict[str, Any] = {
        "columns": columns,
        "rows": [list(r) for r in rows[:row_limit]],
        "truncated": len(rows) > row_limit,
        "duration_ms": elapsed,
    }
    if result["truncated"]:
        result["note"] = f"Only the first {row_limit} rows are shown; add a LIMIT or a WHERE."
    if plan is not None:
        result["plan"] = [{"id": r[0], "parent": r[1], "detail": r[3]} for r in plan]
    return result


def _explain_refusal(error: Exception, refused: list[str], time_limit_ms: int) -> SQLRefused:
    message = str(error)
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
