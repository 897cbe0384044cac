"""The caching module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import OBJECT, SECURITY, content, ok, problems

SETTINGS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "invalidate": {"type": "boolean", "description": "Drop cached copies when notes change"},
        "ttl": {"type": "integer", "minimum": 1, "maximum": 86400, "description": "Seconds"},
    },
}
GENERATE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["count"],
    "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": 20000},
        "seed": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**63 - 1,
            "description": "The same seed makes the same notes",
        },
    },
}
X_CACHE = {"X-Cache": {"schema": {"type": "string", "enum": ["hit", "miss"]}}}


def openapi() -> dict[str, Any]:
    """Describe the caching module's routes."""
    tag = ["caching"]
    return {
        "tags": [{"name": "caching", "description": "A cache in front of reads (caching)"}],
        "paths": {
            "/caching/report": {
                "get": {
                    "summary": "Statistics over every note you may see (cached while on)",
                    "tags": tag,
                    "security": SECURITY,
                    "responses": {
                        "200": ok("The report", OBJECT, headers=X_CACHE),
                        **problems(401),
                    },
                }
            },
            "/caching/notes": {
                "post": {
                    "summary": "Add generated notes, yours, to measure with",
                    "tags": tag,
                    "security": SECURITY,
                    "requestBody": {"required": True, **content(GENERATE)},
                    "responses": {
                        "201": ok("How many were made", OBJECT),
                        **problems(400, 401, 403, 413, 415, 422),
                    },
                }
            },
            "/caching/settings": {
                "get": {
                    "summary": "This workspace's cache options",
                    "tags": tag,
                    "responses": {"200": ok("The options", OBJECT), **problems(404)},
                },
                "patch": {
                    "summary": "Switch invalidation, change the TTL",
                    "tags": tag,
                    "requestBody": {"required": True, **content(SETTINGS)},
                    "responses": {
                        "200": ok("The options", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
            "/caching/cache": {
                "delete": {
                    "summary": "Drop every cached copy of this workspace",
                    "tags": tag,
                    "responses": {"204": {"description": "Dropped"}, **problems(404)},
                }
            },
        },
    }
