"""``sb.logs(...)``: the log lines in a notebook, filtered as the viewer filters them."""

from __future__ import annotations

from typing import Any

from sandbox import display

COLUMNS = ["seq", "time", "level", "module", "record_id", "message"]


def logs(
    sb: Any,
    level: str | None = None,
    module: str | None = None,
    record: Any = None,
    q: str | None = None,
    limit: int = 50,
) -> display.Table:
    """Show the newest log lines: sb.logs(level="ERROR"), sb.logs(record=response), ...

    ``record`` is a record id or a response (its record's lines); ``q`` is text the
    message contains. With logging off, the lines are plain text, as print() leaves them.
    """
    if hasattr(record, "headers"):  # a response: the lines of its request
        record = record.headers.get("X-Sandbox-Trace")
    params = {"level": level, "module": module, "record": record, "q": q, "limit": limit}
    data = sb._api("GET", "/logging/lines", params={k: v for k, v in params.items() if v})
    if not data["structured"]:
        return display.Table(data["lines"], ["seq", "plain"])
    rows = [{**line, "data": line.get("data")} for line in data["lines"]]
    return display.Table(rows, [*COLUMNS, "data"])
