"""The notes API: JSON over HTTP, every rule of the note store, plus what HTTP adds."""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Any, Literal

from flask import Blueprint, Response, json, render_template, request, send_from_directory, url_for
from pydantic import Field

from sandbox import notes
from sandbox.errors import SandboxError
from sandbox.openapi import document
from sandbox.validation import Query, QueryInt, json_body, read_query

# template_folder: the module's pages live in its own folder, with the rest of it.
bp = Blueprint("api", __name__, url_prefix="/api", template_folder="templates")

SORTS = [s for key in notes.SORTS for s in (key, "-" + key)]


class NoteListQuery(Query):
    """What ``GET /api/notes`` may be asked: a page, a filter, an order.

    The same model checks the query string and writes the operation's ``parameters`` in
    the OpenAPI document (:func:`sandbox.validation.query_parameters`).
    """

    limit: QueryInt = Field(20, ge=1, le=100, description="Notes per page")
    offset: QueryInt = Field(0, ge=0, le=10**9, description="Notes to skip")
    tag: str | None = Field(None, description="Only notes with this tag")
    q: str | None = Field(
        None,
        max_length=notes.SEARCH_MAX,
        description="Only notes whose title or body contains this text",
    )
    sort: Literal[tuple(SORTS)] = Field(  # type: ignore[valid-type]
        "created", description="Order; a leading '-' means descending"
    )


class PreconditionFailed(SandboxError):
    """If-Match named a version that is no longer the current one."""

    status = 412
    title = "Precondition failed"


def no_content(status: int) -> Response:
    """Answer with a status and no body (so no Content-Type either)."""
    response = Response(status=status)
    del response.headers["Content-Type"]
    return response


def encode(data: Any) -> bytes:
    """Encode JSON compactly: the C encoder does it, and it is what the ETag fingerprints."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def etag(body: bytes) -> str:
    """Return a strong ETag: a fingerprint of exactly the bytes a client receives."""
    return hashlib.sha256(body).hexdigest()[:20]


def answer(data: Any, status: int = 200, **headers: str) -> Response:
    """Answer JSON with its ETag, or 304 Not Modified if the client already has it."""
    body = encode(data)
    tag = etag(body)
    # If-None-Match: "send it only if it changed". A match means the client's copy is current.
    if request.method == "GET" and request.if_none_match.contains_weak(tag):
        response = no_content(304)
    else:
        response = Response(body, status=status, mimetype="application/json", headers=headers)
    response.set_etag(tag)
    return response


def check_if_match(note_id: int) -> None:
    """Refuse a write based on an old copy: the lost-update problem, caught."""
    if not request.if_match:
        return
    current = etag(encode(notes.get_note(note_id)))
    if not request.if_match.contains(current):  # also true for If-Match: *
        raise PreconditionFailed(
            f"Note {note_id} changed since you read it (your If-Match does not match its "
            f'current ETag "{current}"). GET it again, apply your change, and resend.',
            current_etag=f'"{current}"',
        )


def _list_query() -> notes.Query:
    # Always checked, even with the validation module off: that module's switch is about
    # what gets INTO the database (a note's body). A query only reads; a wrong one can
    # store nothing, it can only answer the wrong page without saying so (and an absurd
    # limit or offset would make the database do needless work).
    asked = read_query(NoteListQuery)
    return notes.Query(
        tag=asked.tag or None,  # "?tag=" is no filter, as if it were left out
        q=asked.q or None,
        sort=asked.sort.lstrip("-"),
        descending=asked.sort.startswith("-"),
        limit=asked.limit,
        offset=asked.offset,
    )


def _page_url(query: notes.Query, offset: int) -> str:
    params = {k: v for k, v in request.args.items() if k != "offset"}
    return url_for("api.list_notes", **params, offset=offset, _external=True)


@bp.get("/notes")
def list_notes() -> Response:
    """List notes, one page at a time, with links to the next and previous pages."""
    query = _list_query()
    items, total = notes.list_notes(query)
    has_next = query.offset + query.limit < total
    has_prev = query.offset > 0
    data = {
        "items": items,
        "total": total,
        "limit": query.limit,
        "offset": query.offset,
        "next": _page_url(query, query.offset + query.limit) if has_next else None,
        "prev": _page_url(query, max(query.offset - query.limit, 0)) if has_prev else None,
    }
    # The same links in an RFC 8288 Link header, for clients that page without reading the body.
    last = max((total - 1) // query.limit * query.limit, 0)
    links = {
        "first": _page_url(query, 0),
        "last": _page_url(query, last),
        "next": data["next"],
        "prev": data["prev"],
    }
    link_header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items() if url)
    return answer(data, Link=link_header)


@bp.post("/notes")
def create_note() -> Response:
    """Create a note: 201 Created, with its URL in Location."""
    note = notes.create_note(json_body())
    return answer(note, 201, Location=url_for("api.get_note", note_id=note["id"]))


@bp.get("/notes/<int:note_id>")
def get_note(note_id: int) -> Response:
    """Return one note."""
    return answer(notes.get_note(note_id))


@bp.put("/notes/<int:note_id>")
def replace_note(note_id: int) -> Response:
    """Replace a note: fields left out go back to their defaults."""
    data = json_body()
    check_if_match(note_id)
    return answer(notes.update_note(note_id, data, partial=False))


@bp.patch("/notes/<int:note_id>")
def update_note(note_id: int) -> Response:
    """Change some fields of a note; the others stay as they are."""
    data = json_body()
    check_if_match(note_id)
    return answer(notes.update_note(note_id, data, partial=True))


@bp.delete("/notes/<int:note_id>")
def delete_note(note_id: int) -> Response:
    """Delete a note: 204 No Content; after that it is a 404."""
    check_if_match(note_id)
    notes.delete_note(note_id)
    return no_content(204)


@bp.get("/openapi.json")
def openapi() -> Response:
    """Return the OpenAPI 3.1 document describing /api/ and /sandbox/."""
    spec = document()
    # Where the API lives, so "Try it out" works under a URL prefix too (JupyterHub).
    spec["servers"] = [{"url": request.script_root or "/"}]
    return Response(json.dumps(spec, indent=2), mimetype="application/json")


# Swagger UI's files come from the flask-swagger-ui package: offline, and kept up to date there.
SWAGGER_UI = resources.files("flask_swagger_ui") / "dist"


@bp.get("/docs/")
def docs() -> str:
    """Show the interactive API explorer (Swagger UI), served from this machine."""
    return render_template("api_docs.html")


@bp.get("/docs/<path:filename>")
def docs_asset(filename: str) -> Response:
    """Serve one of Swagger UI's own files."""
    return send_from_directory(str(SWAGGER_UI), filename)  # refuses paths that leave the folder
