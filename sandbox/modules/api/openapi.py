"""The notes API's own part of the OpenAPI document: /api/notes and this document."""

from __future__ import annotations

from typing import Any

from sandbox import notes
from sandbox.openapi import (
    ETAG,
    NOT_MODIFIED,
    NOTE_ID,
    OBJECT,
    SECURITY,
    body,
    ok,
    problems,
    query,
    ref,
)


def openapi() -> dict[str, Any]:
    """Describe every endpoint of the notes API."""
    list_params = [
        query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            "Notes per page",
        ),
        query(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
            "Notes to skip",
        ),
        query("tag", {"type": "string"}, "Only notes with this tag"),
        query(
            "q",
            {"type": "string", "maxLength": notes.SEARCH_MAX},
            "Only notes whose title or body contains this text",
        ),
        query(
            "sort",
            {
                "type": "string",
                "enum": ["created", "-created", "updated", "-updated", "title", "-title"],
            },
            "Order; a leading '-' means descending",
        ),
    ]
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
                        **problems(400, 401, 404),
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
