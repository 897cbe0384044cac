"""Compare two records: what differs between two requests, side by side.

The same request with a module on and then off is the lesson of every module in one
view: the status, a header, a statement or an event that the module adds or takes away.
:func:`compare` lines the two records up, field by field; the browser's page
(/sandbox/compare?a=..&b=..) and the notebook's ``sb.compare(a, b)`` show what it returns.
"""

from __future__ import annotations

import difflib
from typing import Any

# Headers that differ between any two requests (when, which record): shown, never highlighted.
ALWAYS_DIFFER = {"date", "x-sandbox-trace", "last-modified", "expires", "age"}


def _pair(a: Any, b: Any, *, noise: bool = False) -> dict[str, Any]:
    return {"a": a, "b": b, "same": a == b or noise}


def _headers(a: dict[str, str], b: dict[str, str]) -> list[dict[str, Any]]:
    """Each header either record has, in the order they came, A's value beside B's."""
    names = list(dict.fromkeys([*a, *b]))
    return [
        {"name": n, **_pair(a.get(n), b.get(n), noise=n.lower() in ALWAYS_DIFFER)} for n in names
    ]


def _aligned(a: list[str], b: list[str]) -> list[dict[str, Any]]:
    """Line up two lists as diff does: the same lines side by side, the rest added or gone.

    A statement the module runs only when it is on shows against an empty cell, instead of
    shifting every statement after it out of line.
    """
    rows: list[dict[str, Any]] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows += [_pair(x, x) for x in a[i1:i2]]
            continue
        left, right = a[i1:i2], b[j1:j2]
        for k in range(max(len(left), len(right))):
            rows.append(
                _pair(left[k] if k < len(left) else None, right[k] if k < len(right) else None)
            )
    return rows


def _spans(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    took_a = {s["name"]: s.get("duration_ms") for s in a.get("spans", [])}
    took_b = {s["name"]: s.get("duration_ms") for s in b.get("spans", [])}
    names = list(dict.fromkeys([*took_a, *took_b]))
    # Times always differ a little: only a phase that ran in one request and not the other
    # is a difference worth showing.
    return [
        {"name": n, "a": took_a.get(n), "b": took_b.get(n), "same": (n in took_a) == (n in took_b)}
        for n in names
    ]


def _timing(a: float | None, b: float | None) -> dict[str, Any]:
    # Two runs of one request never take the same time: a difference counts when one took
    # more than twice the other, and over a millisecond more (a cache hit, an index, a sleep).
    if a is None or b is None:
        return _pair(a, b)
    slow, fast = max(a, b), min(a, b)
    return {"a": a, "b": b, "same": not (slow > 2 * fast and slow - fast > 1)}


def _event(e: dict[str, Any]) -> str:
    return f"{e.get('module')}: {e.get('message')}"


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Return two records side by side: each field as ``{"a", "b", "same"}``, and what differs."""
    req_a, req_b = a.get("request") or {}, b.get("request") or {}
    res_a, res_b = a.get("response") or {}, b.get("response") or {}
    sections = {
        "request": _pair(f"{a['method']} {a['path']}", f"{b['method']} {b['path']}"),
        "query": _pair(a.get("query") or {}, b.get("query") or {}),
        "status": _pair(a.get("status"), b.get("status")),
        "module": _pair(a.get("module"), b.get("module")),
        "request_headers": _headers(req_a.get("headers") or {}, req_b.get("headers") or {}),
        "request_body": _pair(req_a.get("body"), req_b.get("body")),
        "response_headers": _headers(res_a.get("headers") or {}, res_b.get("headers") or {}),
        "response_size": _pair(res_a.get("size"), res_b.get("size")),
        "sql": _aligned([s["sql"] for s in a.get("sql", [])], [s["sql"] for s in b.get("sql", [])]),
        "events": _aligned(
            [_event(e) for e in a.get("events", [])], [_event(e) for e in b.get("events", [])]
        ),  # fmt: skip
        "exception": _pair(
            (a.get("exception") or {}).get("type"), (b.get("exception") or {}).get("type")
        ),
        "duration_ms": _timing(a.get("duration_ms"), b.get("duration_ms")),
        "spans": _spans(a, b),
    }
    differs = [
        name
        for name, value in sections.items()
        if not (all(row["same"] for row in value) if isinstance(value, list) else value["same"])
    ]
    return {"a": a["id"], "b": b["id"], "differs": differs, **sections}
