"""The encryption module's part of the OpenAPI document: share links."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import NOTE_ID, content, ok, problems, ref
from sandbox.validation import components

from .share import ShareRequest

SCHEMAS: dict[str, Any] = {
    "ShareLink": {
        "type": "object",
        "required": ["url", "expires_at"],
        "properties": {
            "url": {"type": "string", "description": "GET it to see the note; no login needed"},
            "expires_at": {"type": "string"},
            "expires_in": {"type": "integer"},
            "note_id": {"type": "integer"},
        },
    },
}


def openapi() -> dict[str, Any]:
    """Describe the share-link endpoint (under /api/, since it shares a note of the API)."""
    return {
        "schemas": {**SCHEMAS, **components(ShareRequest)},
        "paths": {
            "/api/notes/{note_id}/share": {
                "parameters": [NOTE_ID],
                "post": {
                    "summary": "Make a signed, expiring link that shows the note to anyone "
                    "who has it",
                    "description": "Belongs to the encryption module: with it off, a 404 problem.",
                    "tags": ["api"],
                    "requestBody": {"required": False, **content(ref("ShareRequest"))},
                    "responses": {
                        "200": ok("The link", ref("ShareLink")),
                        **problems(400, 401, 404, 413, 415, 422),
                    },
                },
            },
        },
    }
