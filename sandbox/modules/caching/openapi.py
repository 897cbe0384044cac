"""The caching module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import OBJECT, SECURITY, body, ok, problems
from sandbox.validation import components

from .views import CachingNotesRequest, CachingSettings

X_CACHE = {"X-Cache": {"schema": {"type": "string", "enum": ["hit", "miss"]}}}


def openapi() -> dict[str, Any]:
    """Describe the caching module's routes."""
    tag = ["caching"]
    return {
        "schemas": components(CachingNotesRequest, CachingSettings),
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
                    "requestBody": body("CachingNotesRequest"),
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
                    "requestBody": body("CachingSettings"),
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
