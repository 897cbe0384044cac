"""The indexing module's challenges, each checked from the records: plans, times, events."""

from __future__ import annotations

from typing import Any

from sandbox import db
from sandbox.registry import Challenge

from .orders import FILTERED_COLUMNS, SLOW
from .plans import scans, uses_index

# How much faster the query must run through the index than it did reading every row.
SPEED_UP = 100
# An insert big enough to time: thousands of rows, so the time is the rows', not overhead.
INSERT_ROWS = 10_000


def _statements(record: Any, sql: str) -> list[dict[str, Any]]:
    return [s for s in record.sql if s["sql"] == sql and s.get("duration_ms") is not None]


def _own_index(step: str) -> bool:
    """Whether a plan step uses an index this workspace made (its name says whose it is)."""
    return f"INDEX ix_{db.workspace()}_" in step


def fast_search(record: Any, buffer: Any) -> bool:
    """The customer query found its rows through your index, 100x faster than a scan did."""
    for found in _statements(record, SLOW):
        step = uses_index(found.get("plan"), "orders")
        if step is None or not _own_index(step):
            continue
        for earlier in buffer.recent(200):
            scanned = [s for s in _statements(earlier, SLOW) if scans(s.get("plan"), "orders")]
            if scanned:  # the latest request that ran the same query by reading every row
                return scanned[-1]["duration_ms"] >= SPEED_UP * max(found["duration_ms"], 0.001)
    return False


def wrong_order(record: Any, buffer: Any) -> bool:
    """A question still scanned, though one of your indexes has its column, but not first."""
    for e in record.events:
        if e.get("module") != "indexing" or "filters" not in e:
            continue
        filtered = {FILTERED_COLUMNS[f] for f in e["filters"]}
        behind = [
            i
            for i in e.get("indexes", [])
            if i["columns"][0] not in filtered | {"workspace"} and filtered & set(i["columns"][1:])
        ]
        statements = _statements(record, e["sql"])
        if behind and any(scans(s.get("plan"), "orders") for s in statements):
            return True
    return False


def _insert(record: Any) -> dict[str, Any] | None:
    if record.method != "POST" or record.path != "/indexing/orders" or record.status != 201:
        return None
    return next(
        (e for e in record.events if e.get("module") == "indexing" and "insert_ms" in e), None
    )


def insert_cost(record: Any, buffer: Any) -> bool:
    """Two inserts of the same many orders, with a different number of indexes on the table."""
    this = _insert(record)
    if this is None or this["rows"] < INSERT_ROWS:
        return False
    for earlier in buffer.recent(200):
        other = _insert(earlier)
        if (
            other is not None
            and other["rows"] == this["rows"]
            and len(other["indexes"]) != len(this["indexes"])
        ):
            return True
    return False


CHALLENGES = (
    Challenge(
        id="indexing.fast_search",
        title=f"Make the slow query use an index, {SPEED_UP}x faster",
        hint='POST /indexing/orders {"count": 200000}; GET /indexing/orders?customer=c0042 '
        "(its plan: SCAN orders). Then make an index that lets SQLite SEARCH instead "
        '(POST /indexing/indexes {"table": "orders", "columns": [...]}) and ask again: '
        "compare the two records' SQL times.",
        check=fast_search,
    ),
    Challenge(
        id="indexing.wrong_order",
        title="Show that the wrong column order does not help",
        hint="Make an index that has the column the question filters on, but not first "
        '(for ?customer=, e.g. ["status", "customer"]), ask the question, and read '
        "its plan: still a SCAN.",
        check=wrong_order,
    ),
    Challenge(
        id="indexing.insert_cost",
        title="Measure what an extra index costs every insert",
        hint=f"Insert the same number of orders (at least {INSERT_ROWS:,}) twice: once with "
        "no index of yours on orders and once with one (or more). Compare the insert_ms "
        "of the two answers.",
        check=insert_cost,
    ),
)
