"""Notes in the browser: server-rendered pages with forms, the classic way.

These pages use the same note store as the API, so the same rules apply; they
just answer HTML instead of JSON. They stay on when the api module is off: the
API is one door to the notes, these pages another.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from werkzeug import Response

from . import notes
from .csrf import check_csrf, csrf_token
from .errors import Unauthorized, ValidationFailed, answer
from .identity import current_identity
from .registry import registry

bp = Blueprint("notes", __name__, url_prefix="/notes")
# The form's own checks in the browser (required, maxlength) use the server's numbers: a
# convenience for the person typing, never a defence (anyone can send the POST without it).
LIMITS = {"title_max": notes.TITLE_MAX, "body_max": notes.BODY_MAX}


@bp.app_context_processor
def _inject_csrf() -> dict[str, Any]:
    return {"csrf_token": csrf_token}


def _form_data() -> dict[str, Any]:
    """Read the form into the shape the note store expects."""
    tags = [t.strip() for t in request.form.get("tags", "").split(",") if t.strip()]
    return {
        "title": request.form.get("title", ""),
        "body": request.form.get("body", ""),
        "tags": tags,
    }


def _beside_fields(failed: ValidationFailed) -> dict[str, str]:
    """Return each field's messages, to show beside it: what was wrong, then how to fix it."""
    g.field_errors = failed.extra["errors"]  # for the record: which fields, and who checked
    shown: dict[str, list[str]] = {}
    for error in failed.extra["errors"]:
        lines = shown.setdefault(error["field"], [])
        lines.append(error["message"])
        if error.get("fix") and error["fix"] != error["message"] and error["fix"] not in lines:
            lines.append(error["fix"])
    return {field: " ".join(lines) for field, lines in shown.items()}


@bp.errorhandler(Unauthorized)
def _log_in_first(error: Unauthorized) -> Response:
    """Send a browser to the login page (if the identity provider has one), then back."""
    provider = registry().provided("identity")
    if provider is not None and hasattr(provider, "login_url"):
        return redirect(provider.login_url(next_url=request.full_path))
    return answer(error)


@bp.get("/")
def index() -> str:
    """List notes, newest first, with an optional tag filter."""
    tag = request.args.get("tag") or None
    items, total = notes.list_notes(
        notes.Query(tag=tag, sort="created", descending=True, limit=100)
    )
    return render_template(
        "notes_list.html", notes=items, total=total, tag=tag, identity=current_identity()
    )


@bp.route("/new", methods=["GET", "POST"])
def new() -> str | Response:
    """Show the new-note form; on POST, create the note or show what to fix."""
    errors: dict[str, str] = {}
    form = {"title": "", "body": "", "tags": ""}
    if request.method == "POST":
        check_csrf()
        form = dict(request.form)
        try:
            note = notes.create_note(_form_data())
        except ValidationFailed as failed:
            errors = _beside_fields(failed)
        else:
            return redirect(url_for("notes.edit", note_id=note["id"], created=1))
    return render_template("note_form.html", form=form, errors=errors, note=None, **LIMITS), (
        422 if errors else 200
    )


@bp.route("/<int:note_id>", methods=["GET", "POST"])
def edit(note_id: int) -> str | Response:
    """Show a note in its edit form; on POST, save it or show what to fix."""
    note = notes.get_note(note_id)
    errors: dict[str, str] = {}
    form = {**note, "tags": ", ".join(note["tags"])}
    if request.method == "POST":
        check_csrf()
        form = dict(request.form)
        try:
            note = notes.update_note(note_id, _form_data(), partial=False)
        except ValidationFailed as failed:
            errors = _beside_fields(failed)
        else:
            return redirect(url_for("notes.edit", note_id=note_id, saved=1))
    return render_template("note_form.html", form=form, errors=errors, note=note, **LIMITS), (
        422 if errors else 200
    )


@bp.post("/<int:note_id>/delete")
def delete(note_id: int) -> Response:
    """Delete a note and go back to the list."""
    check_csrf()
    notes.delete_note(note_id)
    return redirect(url_for("notes.index"))
