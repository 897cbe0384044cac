"""The API module's challenges, each checked from the request records."""

from __future__ import annotations

from sandbox.registry import Challenge


def paged_through(record, buffer) -> bool:
    """Reached the last page (no rel="next") after starting at the first, same page size."""
    if record.path != "/api/notes" or record.method != "GET" or record.status != 200:
        return False
    link = record.response.get("headers", {}).get("Link", "")
    if 'rel="next"' in link or not record.query.get("offset", "0").strip("0"):
        return False
    limit = record.query.get("limit")
    return any(
        r.path == "/api/notes"
        and r.status == 200
        and r.query.get("limit") == limit
        and r.query.get("offset", "0").strip("0") == ""
        for r in buffer.recent(100)
    )


def fixed_422(record, buffer) -> bool:
    """Succeeded with a write that, sent before, was refused as 422."""
    if not record.path.startswith("/api/notes") or record.method == "GET":
        return False
    if not 200 <= (record.status or 0) < 300:
        return False
    return any(
        r.path == record.path and r.method == record.method and r.status == 422
        for r in buffer.recent(20)
    )


CHALLENGES = (
    Challenge(
        id="api.paginate",
        title="Page through all the notes",
        hint="GET /api/notes?limit=2, then follow each page's next link (in the body or the Link "
        "header) until there is none.",
        check=paged_through,
    ),
    Challenge(
        id="api.fix_422",
        title="Get a 422 and fix the request",
        hint='POST /api/notes with {"title": 42}, read the errors list, then send it right.',
        check=fixed_422,
    ),
    Challenge(
        id="api.conditional_get",
        title="Get a 304 Not Modified",
        hint="GET /api/notes/1, then GET it again with the header If-None-Match: <its ETag>.",
        check=lambda record, buffer: record.path.startswith("/api/notes") and record.status == 304,
    ),
    Challenge(
        id="api.lost_update",
        title="Catch a lost update with If-Match",
        hint="GET a note and keep its ETag, change the note, then PATCH it with "
        "If-Match: <the old ETag>: the answer is 412.",
        check=lambda record, buffer: record.path.startswith("/api/notes/") and record.status == 412,
    ),
)
