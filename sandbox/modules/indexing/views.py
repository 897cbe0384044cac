"""The indexing module's routes: orders to search, the questions asked of them, and indexes.

The orders and their questions answer whether the module is on or off
(``works_when_off``): a query timed with and without an index is the lesson. Making and
dropping indexes needs the module on.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from flask import Blueprint, Response, current_app
from pydantic import Field

from sandbox import db
from sandbox.errors import SandboxError
from sandbox.record import event
from sandbox.validation import Body, Query, Whole, read, read_query

from . import indexes, orders
from .plans import planner

bp = Blueprint("indexing", __name__, url_prefix="/indexing")
# Works with the module off too: make orders and time the questions, with no index at all.
open_bp = Blueprint("indexing_open", __name__, url_prefix="/indexing")

GENERATE_MAX = 200_000
# [0-9], not \d: \d also matches other scripts' digits ("c٠٠٤٢"), which no customer id has.
CUSTOMER = "^c[0-9]{4}$"
DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9:.]+Z?)?$"


class TooManyOrders(SandboxError):
    """The workspace would hold more orders than the server allows."""

    status = 409
    title = "Too many orders"


class IndexingOrdersRequest(Body):
    """How many orders to generate, and from which seed."""

    count: Whole = Field(
        ge=1, le=GENERATE_MAX, description=f"a whole number from 1 to {GENERATE_MAX:,}"
    )
    seed: Whole = Field(
        1,
        ge=0,
        le=2**63 - 1,
        description="a whole number from 0 to 2**63 - 1: the same seed makes the same orders",
    )


class IndexRequest(Body):
    """An index to make: a table and its columns (which ones may be indexed: see indexes.py)."""

    table: str = Field(description='the table to index, e.g. "orders"')
    columns: list[str] = Field(description='column names in index order, e.g. ["customer"]')


# --- orders: make them, empty them ---


@open_bp.post("/orders")
def generate() -> tuple[dict[str, Any], int]:
    """Add generated orders to this workspace, all in one transaction."""
    asked = read(IndexingOrdersRequest)
    count, seed = asked.count, asked.seed
    started = time.perf_counter()
    rows = orders.generated(count, seed, db.workspace())
    limit = current_app.config["SANDBOX_INDEXING_MAX_ORDERS"]
    stored = orders.store(rows, limit)
    if stored is None:
        raise TooManyOrders(
            f"A workspace holds at most {limit:,} orders (SANDBOX_INDEXING_MAX_ORDERS) and "
            f"{count:,} more would be over it. Empty them first: DELETE /indexing/orders.",
            limit=limit,
        )
    insert_ms, total = stored
    on_orders = table_indexes("orders")
    event(
        "indexing",
        f"{count:,} orders inserted in {insert_ms:,.1f} ms, with {len(on_orders)} "
        f"index{'es' if len(on_orders) != 1 else ''} on orders to keep up to date as well",
        rows=count,
        insert_ms=insert_ms,
        indexes=on_orders,
    )
    took = round((time.perf_counter() - started) * 1000, 1)
    answer = {
        "created": count,
        "seed": seed,
        "total": total,
        "insert_ms": insert_ms,
        "took_ms": took,
        "indexes": on_orders,
    }
    return answer, 201


@open_bp.delete("/orders")
def empty() -> Response:
    """Delete every order of this workspace."""
    conn = db.get_db().conn
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        orders.clear(conn, db.workspace())
    return Response(status=204)


def table_indexes(table: str) -> list[str]:
    """Return the names of the indexes on a table now (everybody's: each one costs inserts)."""
    conn = db.connect(db.database_path(), traced=False)  # looking, not the learner's query
    try:
        rows = conn.execute(
            "select name from sqlite_master where type = 'index' and tbl_name = ? "
            "and sql is not null order by name",  # sql is null: SQLite's own (a UNIQUE's)
            [table],
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


# --- the questions ---


class OrderSearch(Query):
    """What the orders search may be asked: any of a customer, a status and a first day."""

    customer: str | None = Field(
        None, pattern=CUSTOMER, description="A customer id: c and four digits, c0001 to c5000"
    )
    status: Literal[tuple(orders.STATUSES)] | None = Field(None, description="A status")  # type: ignore[valid-type]
    since: str | None = Field(
        None,
        pattern=DAY,
        description="Orders made on or after this day (2024-06-01) or time (2024-06-01T12:00:00Z)",
    )


class OrderTotal(Query):
    """What the totals question needs: one customer."""

    customer: str = Field(
        pattern=CUSTOMER, description="A customer id: c and four digits, c0001 to c5000"
    )


@open_bp.get("/orders")
def search() -> dict[str, Any]:
    """The 50 latest orders, of a customer (?customer=), a status (?status=), since a day."""
    asked = read_query(OrderSearch)
    filters = {k: v for k, v in asked.model_dump().items() if v is not None}
    return answer(orders.search_sql(filters), filters)


@open_bp.get("/orders/total")
def total() -> dict[str, Any]:
    """How many orders a customer made and what they spent, in cents."""
    return answer(orders.TOTAL, {"customer": read_query(OrderTotal).customer})


@open_bp.get("/queries")
def questions() -> dict[str, Any]:
    """The questions this module asks of the orders, with their SQL."""
    examples = [
        ("A customer's 50 latest orders", "/indexing/orders?customer=c0042"),
        ("The latest refunded orders", "/indexing/orders?status=refunded"),
        ("Refunded orders since a day", "/indexing/orders?status=refunded&since=2024-06-01"),
        ("A customer's refunded orders", "/indexing/orders?customer=c0042&status=refunded"),
        ("A customer's number of orders and spending", "/indexing/orders/total?customer=c0042"),
    ]
    listed = []
    for summary, url in examples:
        filters = dict(pair.split("=") for pair in url.partition("?")[2].split("&"))
        sql = orders.TOTAL if "/total" in url else orders.search_sql(filters)
        listed.append(
            {
                "summary": summary,
                "url": url,
                "sql": sql,
                "console_sql": orders.console_sql(sql, list(filters.values())),
            }
        )
    return {
        "queries": listed,
        "note": "The first ? is always the workspace, then each filter in order. Paste a "
        'console_sql into POST /sandbox/sql with "explain": true to see its plan there.',
    }


def answer(sql: str, filters: dict[str, str]) -> dict[str, Any]:
    """Run a question, and say how SQLite found the rows and how long it took."""
    values = list(filters.values())
    rows, took = orders.ask(sql, values)
    plan = planner(current_app).plan(sql)
    mine = indexes.mine(db.workspace(), "orders")
    how = "; ".join(step.strip() for step in plan or [])
    event(
        "indexing",
        f"{len(rows)} row(s) in {took:,.3f} ms. Plan: {how}",
        query_ms=took,
        rows=len(rows),
        plan=plan,
        sql=sql,
        filters=filters,
        indexes=mine,
    )
    return {
        "sql": sql,
        "params": [db.workspace(), *values],
        "plan": plan,
        "took_ms": took,
        "count": len(rows),
        "rows": rows,
        "your_indexes": mine,
        "console_sql": orders.console_sql(sql, values),
    }


# --- indexes (the module on) ---


@bp.get("/indexes")
def list_indexes() -> dict[str, Any]:
    """Your indexes and the sandbox's, with their sizes."""
    return indexes.listing(db.get_db().conn, db.workspace(), schema())


@bp.post("/indexes")
def create_index() -> tuple[dict[str, Any], int]:
    """Make an index on whitelisted columns of a whitelisted table."""
    # The shape by the model; which table and columns may be indexed by the whitelist,
    # a rule across two fields (the document says it as one schema per table).
    table, columns = indexes.check_request(read(IndexRequest).model_dump())
    started = time.perf_counter()
    made = indexes.create(db.get_db().conn, db.workspace(), table, columns)
    took = round((time.perf_counter() - started) * 1000, 1)
    event(
        "indexing",
        f"index {made['name']} made in {took:,.1f} ms: every row of {table} read, and its "
        f"{', '.join(columns)} sorted into a B-tree",
        index=made["name"],
        took_ms=took,
    )
    return {**made, "took_ms": took}, 201


@bp.delete("/indexes/<name>")
def drop_index(name: str) -> Response:
    """Drop one of your indexes."""
    indexes.drop(db.get_db().conn, db.workspace(), name, schema())
    event("indexing", f"index {name} dropped", index=name)
    return Response(status=204)


def schema() -> str:
    return current_app.extensions["sandbox.indexing.schema"]
