"""Query plans: every SELECT in a record says how SQLite meant to find its rows.

``EXPLAIN QUERY PLAN <select>`` asks SQLite for its plan without running the query:
``SCAN orders`` reads every row of the table; ``SEARCH orders USING INDEX ix (customer=?)``
walks down an index to the rows it needs. While the module is on, its after-request hook
(``annotate``) asks for the plan of each SELECT the request ran and writes it next to the
statement in the record, as ``"plan"``.

The plans are asked on a connection of the module's own, read-only and untraced: asking
is not part of the learner's request (it would add a statement for every statement), and a
read-only connection cannot change anything whatever text it is given.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app

from sandbox import db

# Statements that have a plan worth showing: reads. (An INSERT's plan says nothing.)
_READS = ("select", "with")
_STRING = re.compile(r"'(?:[^']|'')*'")
_NAMED = re.compile(r"[:@$]([A-Za-z_]\w*)")
# Plans kept per record: a request that runs hundreds of statements runs the same few.
PLANS_PER_RECORD = 50


# Plans remembered across requests, for one version of the schema: a request runs the same
# few statements as the last one, and asking SQLite again costs more than the request's own
# queries did (measured: most of GET /api/notes's time went to planning its statements).
PLANS_KEPT = 2000


class Planner:
    """A few open read-only connections, kept for asking plans (opening one costs ~1 ms)."""

    def __init__(self, path: Any, size: int = 4):
        self.path, self.size = path, size
        self._idle: list[tuple[sqlite3.Connection, int]] = []
        self._lock = threading.Lock()
        self._plans: dict[str, list[str] | None] = {}
        self._plans_version: int | None = None

    @contextmanager
    def asking(self) -> Iterator[Callable[[str], list[str] | None]]:
        """Lend a connection; yield ``plan(sql)``, which returns a statement's plan or None."""
        conn, version = self._take()
        with self._lock:
            if version != self._plans_version:  # an index made or dropped: plan afresh
                self._plans, self._plans_version = {}, version
            plans = self._plans

        def plan(sql: str) -> list[str] | None:
            if sql not in plans:
                if len(plans) >= PLANS_KEPT:
                    plans.clear()
                plans[sql] = _plan(conn, sql)
            return plans[sql]

        try:
            yield plan
        finally:
            self._give_back(conn, version)

    def plan(self, sql: str) -> list[str] | None:
        """Return the plan's steps for one statement, or None if it cannot be planned."""
        with self.asking() as plan:
            return plan(sql)

    def _take(self) -> tuple[sqlite3.Connection, int]:
        with self._lock:
            kept = self._idle.pop() if self._idle else None
        if kept is not None:
            conn, version = kept
            # A connection keeps the schema (the tables and indexes) it read, and an EXPLAIN
            # never checks whether it changed: it would go on planning without an index made
            # since. The schema's version number says whether it did; if so, a new connection.
            if _version(conn) == version:
                return conn, version
            conn.close()
        conn = sqlite3.connect(
            f"{self.path.as_uri()}?mode=ro", uri=True, timeout=1, check_same_thread=False
        )
        return conn, _version(conn)

    def _give_back(self, conn: sqlite3.Connection, version: int) -> None:
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append((conn, version))
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections (the module stops, or the app goes away)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()


def _version(conn: sqlite3.Connection) -> int:
    return conn.execute("pragma schema_version").fetchone()[0]


def _plan(conn: sqlite3.Connection, sql: str) -> list[str] | None:
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", blank_values(sql)).fetchall()
    except (sqlite3.Error, sqlite3.Warning):
        # Not plannable here: an excerpt of a statement too long to keep whole, a statement
        # that names a temporary table of another connection, two statements at once.
        return None
    return [_indented(rows, row) for row in rows]


def _indented(rows: list[tuple], row: tuple) -> str:
    """Return one step of a plan, indented under its parent step (as the sqlite3 shell does)."""
    parents = {r[0]: r[1] for r in rows}
    depth, parent = 0, row[1]
    while parent in parents and depth < 10:
        depth, parent = depth + 1, parents[parent]
    return "  " * depth + row[3]


def blank_values(sql: str) -> Any:
    """Return NULL for each of a statement's parameters.

    The record keeps parameters for display only: excerpted, and secrets replaced. A plan
    does not depend on the values (SQLite plans a statement once and runs it with any
    values; these queries are planned without statistics, as the sandbox never runs
    ANALYZE), so NULLs in their place give the very plan the request used.
    """
    text = _STRING.sub("''", sql)  # a "?" inside a string is not a parameter
    names = _NAMED.findall(text)
    if names:
        return dict.fromkeys(names)
    return [None] * text.count("?")


def planner(app: Flask) -> Planner:
    """Return this app's planner, made on first use."""
    found = app.extensions.get("sandbox.indexing.planner")
    if found is None:
        found = app.extensions.setdefault(
            "sandbox.indexing.planner", Planner(db.database_path(app))
        )
    return found


def annotate(record: Any, response: Any) -> None:
    """Add ``"plan"`` to each SELECT of the record (the after-request hook, while on)."""
    if record is None or not record.sql:
        return  # no SQL, no work: most requests cost this module one look
    plans: dict[str, list[str] | None] = {}
    with planner(current_app).asking() as plan:
        for entry in record.sql:
            sql = entry["sql"]
            if "plan" in entry or not sql.lstrip()[:6].lower().startswith(_READS):
                continue
            if sql not in plans:
                if len(plans) >= PLANS_PER_RECORD:
                    break
                plans[sql] = plan(sql)
            if plans[sql] is not None:
                entry["plan"] = plans[sql]


def uses_index(plan: list[str] | None, table: str) -> str | None:
    """Return the step that finds ``table``'s rows through an index (SEARCH ... INDEX), if any."""
    for step in plan or []:
        text = step.strip()
        if text.startswith(f"SEARCH {table} USING") and "INDEX" in text:
            return text
    return None


def scans(plan: list[str] | None, table: str) -> bool:
    """Return whether the plan reads all of ``table``: every row, or every entry of an index.

    ``SCAN orders USING INDEX ix`` walks a whole index in its order (to skip a sort, say):
    still a scan, nothing narrowed it down. Only ``SEARCH`` goes straight to the rows.
    """
    return any(step.strip().split(" USING")[0] == f"SCAN {table}" for step in plan or [])
