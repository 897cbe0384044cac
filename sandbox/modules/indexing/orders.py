"""The orders table: a shop's orders, made on demand, and the questions asked of them.

Deterministic: the same ``seed`` makes the same orders, so two learners (or a learner
and the lesson) measure the same data. Fast: 200,000 orders are made and stored in a
second or two, all in one transaction with ``executemany`` (one INSERT per row, each
committed on its own, would take minutes: every commit waits for the disk).
"""

from __future__ import annotations

import itertools
import random
import time
from datetime import date, timedelta
from typing import Any

from sandbox import db
from sandbox.record import current_record

CUSTOMERS = tuple(f"c{n:04d}" for n in range(1, 5001))
PRODUCTS = tuple(f"p{n:03d}" for n in range(1, 201))
# How often each status comes up, in percent: a skewed column, like real ones. Finding the
# 2% refunded orders through an index pays; finding the 70% delivered ones does not.
STATUSES = {
    "delivered": 70,
    "shipped": 10,
    "paid": 8,
    "pending": 5,
    "cancelled": 5,
    "refunded": 2,
}
STREETS = (
    "Maple", "Oak", "Pine", "Elm", "Cedar", "Birch", "Willow", "Station", "Market", "Church",
    "Mill", "River", "Lake", "Hill", "Park", "Garden", "Bridge", "Castle", "Harbour", "Meadow",
)  # fmt: skip
CITIES = (
    "Lyon", "Porto", "Leeds", "Gent", "Bremen", "Turin", "Krakow", "Aarhus", "Bilbao", "Utrecht",
    "Graz", "Brno", "Cork", "Tartu", "Malmo", "Basel", "Split", "Lille", "Plovdiv", "Bergen",
)  # fmt: skip
# What a customer wrote at checkout, often nothing. Real orders carry text like this and
# the address: it makes each row a realistic width, and a scan reads all of it.
COMMENTS = (
    "",
    "",
    "",
    "Please leave the parcel with the neighbour if I am out.",
    "Gift wrap, and no invoice in the box please.",
    "Ring twice, the bell is broken.",
    "Deliver after 6 pm on weekdays.",
)
FIRST_DAY = date(2023, 1, 1)
MEAN_GAP_SECONDS = 315  # 200,000 orders cover about two years

INSERT = (
    "insert into orders (workspace, customer, product, status, amount, quantity, address, "
    "comment, created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def generated(count: int, seed: int, workspace: str) -> list[tuple[Any, ...]]:
    """Return ``count`` order rows made from ``seed``: the same seed, the same orders."""
    rng = random.Random(seed)
    statuses = [name for name, percent in STATUSES.items() for _ in range(percent)]
    # A column at a time, with random.choices: about ten times faster than a loop that
    # draws each value of each row, which matters at 200,000 rows.
    customers = rng.choices(CUSTOMERS, k=count)
    products = rng.choices(PRODUCTS, k=count)
    chosen = rng.choices(statuses, k=count)
    amounts = rng.choices(range(100, 50_000), k=count)  # 1.00 to 499.99, in cents
    quantities = rng.choices(range(1, 6), k=count)
    gaps = rng.choices(range(1, 2 * MEAN_GAP_SECONDS), k=count)
    stamps = [_stamp(second) for second in itertools.accumulate(gaps)]
    addresses = [
        f"{number} {street} Street, {city}"
        for number, street, city in zip(
            rng.choices(range(1, 400), k=count),
            rng.choices(STREETS, k=count),
            rng.choices(CITIES, k=count),
            strict=True,
        )
    ]
    comments = rng.choices(COMMENTS, k=count)
    return list(
        zip(
            itertools.repeat(workspace, count),
            customers,
            products,
            chosen,
            amounts,
            quantities,
            addresses,
            comments,
            stamps,
            strict=True,
        )
    )


_DAYS: dict[int, str] = {}
_MINUTES = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}Z" for s in range(60)]


def _stamp(second: int) -> str:
    """Return the ISO 8601 time ``second`` seconds after the first day began."""
    day, rest = divmod(second, 86_400)
    if day not in _DAYS:
        _DAYS[day] = (FIRST_DAY + timedelta(days=day)).isoformat()
    minute, second = divmod(rest, 60)
    return _DAYS[day] + _MINUTES[minute] + _SECONDS[second]


def count(conn: Any, workspace: str) -> int:
    """Return how many orders a workspace holds (kept in a counter: counting would scan)."""
    row = conn.execute(
        "select orders from indexing_workspaces where workspace = ?", [workspace]
    ).fetchone()
    return row[0] if row else 0


def store(rows: list[tuple[Any, ...]], limit: int) -> tuple[float, int] | None:
    """Insert ``rows`` for this workspace in one transaction; return (ms, total), or None.

    None: the workspace would hold more than ``limit`` orders, and nothing was stored.

    The rows go through a connection of the module's own, not the request's traced one:
    the traced cursor keeps every row's values for the record (200,000 of them, most of
    which the record then drops), which would cost more than the insert. The record gets
    the statement once, with its first row and its time, below.
    """
    workspace = db.workspace()
    conn = db.connect(db.database_path(), traced=False)
    try:
        with conn:  # one transaction: every order, and the counter, or none
            conn.execute("BEGIN IMMEDIATE")  # the write lock first: the count stays true
            total = count(conn, workspace) + len(rows)
            if total > limit:
                return None
            started = time.perf_counter()
            conn.executemany(INSERT, rows)
            took = round((time.perf_counter() - started) * 1000, 3)
            conn.execute(
                "insert into indexing_workspaces (workspace, orders) values (?, ?) "
                "on conflict (workspace) do update set orders = excluded.orders",
                [workspace, total],
            )
    finally:
        conn.close()
    record = current_record()
    if record is not None:
        record.add_sql(INSERT, list(rows[0]) if rows else None, took)
        record.sql[-1]["rows"] = len(rows)  # one executemany, this many rows
    return took, total


def clear(conn: Any, workspace: str) -> None:
    """Delete a workspace's orders, inside the caller's transaction."""
    conn.execute("delete from orders where workspace = ?", [workspace])
    conn.execute("delete from indexing_workspaces where workspace = ?", [workspace])


# --- the questions the learner asks of the orders, each one SQL statement ---

COLUMNS = "id, customer, product, status, amount, created_at"
# What each filter adds to the WHERE clause. The SQL is put together from these fixed
# pieces only, in this order; the values go in as parameters (?), never into the text.
FILTERS = {"customer": "customer = ?", "status": "status = ?", "since": "created_at >= ?"}
# The column each filter narrows the rows by: an index helps when it starts with these.
FILTERED_COLUMNS = {"customer": "customer", "status": "status", "since": "created_at"}
TOTAL = (
    "select count(*) as orders, coalesce(sum(amount), 0) as spent from orders "
    "where workspace = ? and customer = ?"
)


def search_sql(filters: dict[str, Any]) -> str:
    """Return the SQL of a search: the 50 latest orders that match the filters given."""
    where = ["workspace = ?"] + [FILTERS[f] for f in FILTERS if f in filters]
    return (
        f"select {COLUMNS} from orders where {' and '.join(where)} "
        "order by created_at desc limit 50"
    )


# The query the first challenge asks to make fast: a customer's latest orders.
SLOW = search_sql({"customer": "c0042"})


def ask(sql: str, values: list[Any]) -> tuple[list[dict[str, Any]], float]:
    """Run a query on the request's connection (so the record shows it); return rows, ms.

    sqlite3 runs a SELECT up to its first row in ``execute`` and the rest as rows are
    fetched. These queries sort or sum, so without an index finding the first row
    already means reading every row; the time below covers both anyway.
    """
    started = time.perf_counter()
    rows = db.get_db().execute(sql, [db.workspace(), *values]).fetchall()
    took = round((time.perf_counter() - started) * 1000, 3)
    return [dict(row) for row in rows], took


def console_sql(sql: str, values: list[Any]) -> str:
    """Return a query with its values written in, to paste into the SQL console."""
    for value in [db.workspace(), *values]:
        sql = sql.replace("?", "'" + str(value).replace("'", "''") + "'", 1)
    return sql
