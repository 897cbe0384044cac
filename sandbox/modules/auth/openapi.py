"""The auth module's part of the OpenAPI document: how a client proves who it is."""

from __future__ import annotations

from typing import Any


def openapi() -> dict[str, Any]:
    """Describe the two ways to authenticate: a bearer token and the session cookie."""
    return {
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token from POST /auth/tokens: Authorization: Bearer sbx_...",
            },
            "cookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": "session",
                "description": "The session cookie set by POST /auth/login",
            },
        }
    }
