"""What gets into the notes with validation off: anything the storage can physically hold.

A backend that skips validation does not refuse: it stores. This is that backend, made
safe: every value is stored as sent where the storage can hold it, and as its JSON text
where it cannot (a list where a title belongs), so nothing crashes now. What it costs
shows later: a title of a megabyte in the list page, a number that sorts before every
word, ten thousand tags. The record of each write says what got in that checking would
have refused.

Two defences stay, because they are not validation: the SQL is parameterised (a title
of ``'); drop table notes; --`` is stored as text, never run) and the pages escape what
they show (a title of ``<script>`` is shown, never run). Validation decides what data
is acceptable; those decide that data is never code.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sandbox import notes
from sandbox.errors import ValidationFailed
from sandbox.record import event

# SQLite stores integers of 64 bits; a larger one (JSON allows any) is kept as its text.
INTEGER_MAX = 2**63 - 1
# How many of the errors checking would have found the record lists (10,000 tags: 10,000).
LISTED = 10


def _as_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _scalar(value: Any) -> Any:
    """Keep a number, a boolean or a string as sent; anything else becomes its JSON text."""
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int) and abs(value) <= INTEGER_MAX:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return _as_text(value)  # null, a list, an object, 10**400, NaN: text the storage can hold


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        value = [value]
    # Each tag as text (the storage keeps tags as a JSON list of strings), duplicates and all.
    return [t if isinstance(t, str) else _as_text(t) for t in value]


def let_in(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Return the note's fields as sent, made storable, and record what got in."""
    would_refuse = _would_refuse(data, partial=partial)
    fields: dict[str, Any] = {}
    if "title" in data or not partial:
        fields["title"] = _scalar(data.get("title", ""))
    if "body" in data or not partial:
        body = data.get("body", "")
        # The body as text always: modules that change bodies (encryption) work on text.
        fields["body"] = body if isinstance(body, str) else _as_text(body)
    if "tags" in data or not partial:
        fields["tags"] = _tags(data.get("tags", []))
    if would_refuse:
        listed = [
            {"field": e["field"], "loc": e["loc"], "message": e["message"]}
            for e in would_refuse[:LISTED]
        ]
        more = len(would_refuse) - len(listed)
        event(
            "validation",
            f"validation off: stored anyway, {len(would_refuse)} thing(s) checking would have "
            "refused: "
            + "; ".join(f"{e['field']}: {e['message']}" for e in listed[:3])
            + (f" (and {len(would_refuse) - 3} more)" if len(would_refuse) > 3 else ""),
            let_in=listed,
            let_in_count=len(would_refuse),
            unlisted=more,
            sizes=_sizes(fields),
        )
    else:
        event("validation", "validation off: nothing checked (this note would have passed)")
    return fields


def _would_refuse(data: dict[str, Any], *, partial: bool) -> list[dict[str, Any]]:
    try:
        notes.checked(data, partial=partial)
    except ValidationFailed as failed:
        return failed.extra["errors"]
    return []


def _sizes(fields: dict[str, Any]) -> dict[str, Any]:
    """Describe what is stored: its types and sizes, never the values (a megabyte each)."""
    sizes: dict[str, Any] = {}
    if "title" in fields:
        title = fields["title"]
        sizes["title"] = f"{type(title).__name__} of {len(str(title)):,} characters"
    if "body" in fields:
        sizes["body"] = f"{len(fields['body']):,} characters"
    if "tags" in fields:
        sizes["tags"] = f"{len(fields['tags']):,} tags"
    return sizes
