"""The validation module's challenges, each checked from the request records."""

from __future__ import annotations

from sandbox.registry import Challenge

FIELD_ERRORS = 3


def _events(record, key: str) -> list[dict]:
    return [e for e in record.events if e.get("module") == "validation" and key in e]


def three_errors(record, buffer) -> bool:
    """One 422 answer listed errors in at least three different fields."""
    if record.status != 422:
        return False
    return any(len(e["fields"]) >= FIELD_ERRORS for e in _events(record, "fields"))


def sneaked_in(record, buffer) -> bool:
    """Read the notes table with SQL after a note got in unchecked (validation off)."""
    if record.path != "/sandbox/sql" or record.status != 200:
        return False
    if not any("notes" in s["sql"].lower() for s in record.sql):
        return False
    return any(_events(earlier, "let_in") for earlier in buffer.recent(200))


def browser_bypassed(record, buffer) -> bool:
    """The server refused a note form the browser never checked (no form, or checks off)."""
    if record.method != "POST" or not record.path.startswith("/notes") or record.status != 422:
        return False
    return any(e.get("browser_checked") is False for e in _events(record, "browser_checked"))


CHALLENGES = (
    Challenge(
        id="validation.three_errors",
        title=f"Get one 422 that lists {FIELD_ERRORS} field errors",
        hint='POST /api/notes {"title": 42, "tags": "x", "colour": "red"}: one answer, '
        "every error at once, each with its loc, what was wrong and how to fix it.",
        check=three_errors,
    ),
    Challenge(
        id="validation.sneaked_in",
        title="Sneak bad data in with validation off, then find it in the database",
        hint='PATCH /sandbox/modules/validation {"enabled": false}; POST /api/notes with a '
        "title of 100,000 characters or a number; the record says what got in. Then "
        'POST /sandbox/sql {"sql": "select id, typeof(title), length(title) from notes"}.',
        check=sneaked_in,
    ),
    Challenge(
        id="validation.browser_bypassed",
        title="Show that the browser's check is not a defence",
        hint='On /notes/new, untick "Check in the browser" and save a note with an empty '
        "title, or send the form's POST yourself (with its csrf_token) without the page: "
        "the server refuses it anyway.",
        check=browser_bypassed,
    ),
)
