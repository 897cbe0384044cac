"""Helpers the tests share."""

from __future__ import annotations


def is_problem(response, status: int) -> dict:
    """Assert a response is an RFC 9457 problem with this status and return its body."""
    assert response.status_code == status, response.text if hasattr(response, "text") else response
    content_type = response.headers["Content-Type"]
    assert content_type.startswith("application/problem+json"), content_type
    body = response.json() if callable(response.json) else response.json
    assert body["status"] == status and body["title"] and body["detail"]
    return body
