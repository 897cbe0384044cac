"""The ratelimit module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import body, ok, problems
from sandbox.validation import components

from .limiter import STRATEGIES
from .views import RatelimitSettings

STRATEGY = {"type": "string", "enum": list(STRATEGIES)}
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
        "schemas": components(RatelimitSettings),
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
                    "requestBody": body("RatelimitSettings"),
                    "responses": {
                        "200": ok("The settings", SHOWN),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
        },
    }
