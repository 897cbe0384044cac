"""The notes API's own part of the OpenAPI document: /api/notes and this document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import (
    ETAG,
    NOT_MODIFIED,
    NOTE_ID,
    OBJECT,
    SECURITY,
    body,
    ok,
    problems,
    ref,
)
from sandbox.validation import query_parameters

from .views import NoteListQuery


def openapi() -> dict[str, Any]:
    """Describe every endpoint of the notes API."""
    # Generated from the model that checks the query: the two cannot disagree.
    list_params = query_parameters(NoteListQuery)
    note = ok("The note", ref("Note"), headers=ETAG)
    return {
        "tags": [{"name": "api", "description": "The notes API (the api module)"}],
        "paths": {
            "/api/notes": {
                "get": {
                    "summary": "List notes, a page at a time",
                    "tags": ["api"],
                    "security": SECURITY,
                    "parameters": list_params,
                    "responses": {
                        "200": ok(
                            "A page of notes",
                            ref("NoteList"),
                            headers={
                                **ETAG,
                                "Link": {
                                    "schema": {"type": "string"},
                                    "description": "RFC 8288 first/last/next/prev",
                                },
                            },
                        ),
                        **NOT_MODIFIED,
                        **problems(401, 404, 422),
                    },
                },
                "post": {
                    "summary": "Create a note",
                    "tags": ["api"],
                    "security": SECURITY,
                    "requestBody": body("NoteInput"),
                    "responses": {
                        "201": ok(
                            "Created",
                            ref("Note"),
                            headers={**ETAG, "Location": {"schema": {"type": "string"}}},
                        ),
                        **problems(400, 401, 403, 404, 413, 415, 422),
                    },
                },
            },
            "/api/notes/{note_id}": {
                "parameters": [NOTE_ID],
                "get": {
                    "summary": "Read a note",
                    "tags": ["api"],
                    "security": SECURITY,
                    "responses": {"200": note, **NOT_MODIFIED, **problems(401, 404)},
                },
                "put": {
                    "summary": "Replace a note",
                    "tags": ["api"],
                    "security": SECURITY,
                    "requestBody": body("NoteInput"),
                    "responses": {"200": note, **problems(400, 401, 403, 404, 412, 413, 415, 422)},
                },
                "patch": {
                    "summary": "Change some fields of a note",
                    "tags": ["api"],
                    "security": SECURITY,
                    "requestBody": body("NotePatch"),
                    "responses": {"200": note, **problems(400, 401, 403, 404, 412, 413, 415, 422)},
                },
                "delete": {
                    "summary": "Delete a note",
                    "tags": ["api"],
                    "security": SECURITY,
                    "responses": {
                        "204": {"description": "Deleted"},
                        **problems(401, 403, 404, 412),
                    },
                },
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "tags": ["api"],
                    "responses": {"200": ok("OpenAPI 3.1", OBJECT), **problems(404)},
                }
            },
        },
    }
