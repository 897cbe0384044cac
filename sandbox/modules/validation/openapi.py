"""The validation module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import OBJECT, SECURITY, body, ok, problems, ref


def openapi() -> dict[str, Any]:
    """Describe the validation module's routes."""
    tag = ["validation"]
    return {
        "tags": [{"name": "validation", "description": "What a valid note is (validation)"}],
        "paths": {
            "/validation/": {
                "get": {
                    "summary": "What a valid note is: the models' JSON Schema",
                    "tags": tag,
                    "responses": {"200": ok("The rules", OBJECT), **problems(404)},
                }
            },
            "/validation/check": {
                "post": {
                    "summary": "Check a note as POST /api/notes would, storing nothing",
                    "tags": tag,
                    "security": SECURITY,
                    "requestBody": body("NoteInput"),
                    "responses": {
                        "200": ok(
                            "Valid: the note as it would be stored",
                            {
                                "type": "object",
                                "required": ["valid", "note"],
                                "properties": {
                                    "valid": {"const": True},
                                    "note": ref("NoteInput"),
                                },
                            },
                        ),
                        **problems(400, 404, 413, 415, 422),
                    },
                }
            },
        },
    }
