"""The ratelimit module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import content, ok, problems

from .limiter import STRATEGIES

RATE = {
    "type": "string",
    "maxLength": 40,
    "pattern": r"^\s*\d{1,6}\s*(/|per)\s*\d{0,5}\s*(second|minute|hour|day)s?\s*$",
    "description": 'Requests per window, from 1 to 10,000 in 1 s to 1 day: "5/minute", '
    '"3/2second", "100 per hour"',
    "examples": ["5/minute", "3/2second"],
}
STRATEGY = {"type": "string", "enum": list(STRATEGIES)}
SETTINGS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"limit": RATE, "strategy": STRATEGY},
}
SHOWN = {
    "type": "object",
    "required": ["limit", "strategy", "default", "storage"],
    "properties": {
        "limit": {"type": "string"},
        "means": {"type": "string"},
        "strategy": STRATEGY,
        "default": {"type": "string"},
        "strategies": {"type": "array", "items": STRATEGY},
        "limited": {"type": "array", "items": {"type": "string"}},
        "key": {"type": "string"},
        "storage": {"type": "string"},
    },
}


def openapi() -> dict[str, Any]:
    """Describe the ratelimit module's routes."""
    tag = ["ratelimit"]
    return {
        "tags": [
            {
                "name": "ratelimit",
                "description": "A limit on requests per client (ratelimit): while it is on, "
                "every route under /api/ and /server/ may answer 429 with Retry-After, and "
                "says RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset",
            }
        ],
        "paths": {
            "/ratelimit/settings": {
                "get": {
                    "summary": "This workspace's limit, strategy and storage",
                    "tags": tag,
                    "responses": {"200": ok("The settings", SHOWN), **problems(404)},
                },
                "patch": {
                    "summary": "Change the limit or the strategy (new counts start at once)",
                    "tags": tag,
                    "requestBody": {"required": True, **content(SETTINGS)},
                    "responses": {
                        "200": ok("The settings", SHOWN),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
        },
    }
