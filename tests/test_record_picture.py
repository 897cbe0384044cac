"""The record as a picture: a waterfall of each phase, statement and event (issue 12 §1).

Every span, SQL statement and event of a record carries ``at_ms``, its start from the
request's start; the browser's record panel and ``sb.trace()`` draw them to scale.
"""

from __future__ import annotations

import re
from html import unescape

from sandbox.display import Trace, waterfall_rows


def record_of(client, response) -> dict:
    """Return the full record of a test-client response."""
    return client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").get_json()


def span(record: dict, name: str) -> dict:
    return next(s for s in record["spans"] if s["name"] == name)


# --- the record: when each thing happened ---


def test_each_phase_statement_and_event_has_its_start_in_order_and_inside_the_request(client):
    record = record_of(client, client.get("/api/notes"))
    total = record["duration_ms"]
    gate, view, response = span(record, "gate"), span(record, "view"), span(record, "response")
    # In the order Flask runs them, one after the other, all inside the request's time.
    assert 0 <= gate["at_ms"] <= gate["at_ms"] + gate["duration_ms"] <= view["at_ms"]
    assert view["at_ms"] + view["duration_ms"] <= response["at_ms"]
    assert response["at_ms"] + response["duration_ms"] <= total + 0.01
    # The view's statements ran inside the view, each for its own time.
    assert record["sql"], record
    for statement in record["sql"]:
        assert view["at_ms"] <= statement["at_ms"], statement
        assert statement["at_ms"] + statement["duration_ms"] <= view["at_ms"] + view["duration_ms"]
    starts = [s["at_ms"] for s in record["sql"]]
    assert starts == sorted(starts)
    # The event the gate or view added (auth off: everyone is the guest) is placed too.
    assert record["events"] and all(0 <= e["at_ms"] <= total for e in record["events"])


def test_a_module_hook_is_its_own_span_inside_the_gate(client):
    client.patch("/sandbox/modules/ratelimit", json={"enabled": True})
    record = record_of(client, client.get("/api/notes"))
    gate, hook = span(record, "gate"), span(record, "ratelimit: before")
    assert gate["at_ms"] <= hook["at_ms"]
    assert hook["at_ms"] + hook["duration_ms"] <= gate["at_ms"] + gate["duration_ms"]
    assert span(record, "ratelimit: after")["at_ms"] >= span(record, "view")["at_ms"]
    # Off again: its hooks no longer run, so no span says they did.
    client.patch("/sandbox/modules/ratelimit", json={"enabled": False})
    names = [s["name"] for s in record_of(client, client.get("/api/notes"))["spans"]]
    assert not any(n.startswith("ratelimit") for n in names)


def test_a_refused_request_still_ends_every_span(client):
    client.patch("/sandbox/modules/server", json={"enabled": False})
    record = record_of(client, client.get("/server/get"))
    assert record["status"] == 404
    assert all(isinstance(s["duration_ms"], float) for s in record["spans"]), record["spans"]
    assert span(record, "gate")  # the gate refused it: no view ran
    assert not any(s["name"] == "view" for s in record["spans"])


# --- the picture in a notebook: sb.trace() ---


def bars(html: str) -> list[tuple[str, float, float, str]]:
    """Return each bar of a waterfall: its kind, left and width (percent), hover text."""
    found = re.findall(
        r"class='wf-bar wf-(\w+)' style='left:([\d.]+)%;width:([\d.]+)%' title='([^']*)'", html
    )
    return [(k, float(left), float(width), unescape(t)) for k, left, width, t in found]


def test_the_notebook_trace_draws_the_waterfall_to_scale_with_sql_text_params_and_plan(client):
    record = record_of(client, client.get("/api/notes?limit=3"))
    html = Trace(record)._repr_html_()
    assert "<script" not in html  # a notebook shows it without running anything
    drawn = bars(html)
    assert drawn[0][:3] == ("request", 0.0, 100.0)  # the whole request is the full width
    kinds = [k for k, *_ in drawn[1:]]
    assert kinds == [r["kind"] for r in waterfall_rows(record)]
    assert {"span", "sql", "event"} <= set(kinds)
    # Each bar sits where its thing started, to scale, and never past the end.
    for (_kind, left, width, _), row in zip(drawn[1:], waterfall_rows(record), strict=True):
        assert abs(left - 100 * row["at_ms"] / record["duration_ms"]) < 0.02
        assert left + width <= 100.01
    # Hover a statement: its text, its parameters and the plan the indexing module added.
    first = record["sql"][0]
    hover = next(t for k, _, _, t in drawn if k == "sql")
    assert hover.startswith(first["sql"])
    assert '"local"' in hover and "3" in hover
    assert "plan:" in hover and first["plan"][0] in hover


def test_a_record_without_times_shows_no_waterfall():
    old = {"id": "x", "method": "GET", "path": "/", "duration_ms": 1.0, "sql": [], "events": []}
    assert "wf-row" not in Trace(old)._repr_html_()
