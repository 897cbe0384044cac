"""The validation module's routes: what a note must be, and a check that stores nothing."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request
from werkzeug import Response

from sandbox import notes
from sandbox.record import event
from sandbox.validation import components, json_body

bp = Blueprint("validation", __name__, url_prefix="/validation")

# Bodies checked whether this module is on or off: the sandbox's own safety rests on them
# (who may log in, which keys and tokens exist, who switches what). Switching validation
# off is a lesson about the notes, not a way around the locks.
ALWAYS_CHECKED = (
    "POST /auth/register, /auth/login: username and password",
    "POST /auth/tokens: a token's name, scope and lifetime",
    "PATCH /sandbox/modules/<name>: the switch itself",
    "POST /sandbox/sql: one statement",
    "POST /class/...: joins, instructor logins, class rules",
    "every other module's settings (caching, ratelimit, jobs, indexing, encryption)",
)


@bp.get("/")
def rules() -> dict[str, Any]:
    """What a valid note is (the models' JSON Schema), and what is checked always."""
    return {
        "checks": "note bodies (POST, PUT, PATCH /api/notes) and the note forms (/notes/)",
        "models": components(notes.NoteInput, notes.NotePatch),
        "always_checked": list(ALWAYS_CHECKED),
        "off": "notes are stored as sent (made storable), and each record says what got in",
    }


@bp.post("/check")
def check_note() -> dict[str, Any]:
    """Check a note as POST /api/notes would, and store nothing: the note it would store."""
    return {"valid": True, "note": notes.checked(json_body())}


def after_request(record: Any, response: Response) -> None:
    """Write into the record what a 422 said: its fields, and whether a browser checked first."""
    if response.status_code != 422 or record is None:
        return
    errors = g.get("field_errors")
    if errors is None:
        problem = response.get_json(silent=True) if response.is_json else None
        errors = problem.get("errors", []) if isinstance(problem, dict) else []
    fields = list(dict.fromkeys(e["field"] for e in errors if "field" in e))
    extra: dict[str, Any] = {}
    message = f"refused: {len(errors)} error(s) in {len(fields)} field(s): {', '.join(fields)}"
    if request.blueprint == "notes" and request.method == "POST":
        # The note form says "yes" when the page's own checks ran before it was sent.
        extra["browser_checked"] = request.form.get("checked_in_browser") == "yes"
        if not extra["browser_checked"]:
            message += (
                "; the browser checked nothing (its checks off, or no browser at all): "
                "only the server stood between this form and the database"
            )
    event("validation", message, fields=fields, **extra)
