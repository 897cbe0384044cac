"""The testing module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import OBJECT, content, ok, problems
from sandbox.validation import NOT_BLANK_PATTERN

from .marks import ID_MAX, SESSION_MAX
from .runs import DURATION_MAX, NUMBER_MAX, OUTCOMES, SOURCE_MAX, TESTS_MAX


def text(limit: int, description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "maxLength": limit,
        "pattern": NOT_BLANK_PATTERN,
        "description": description,
    }


TEST = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id", "outcome"],
    "properties": {
        "id": text(ID_MAX, "The test's pytest node id, as sent in X-Sandbox-Test"),
        "outcome": {"type": "string", "enum": list(OUTCOMES)},
        "duration_ms": {"type": "number", "minimum": 0, "maximum": DURATION_MAX},
    },
}
REPORT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["tests"],
    "properties": {
        "tests": {"type": "array", "minItems": 1, "maxItems": TESTS_MAX, "items": TEST},
        "session": text(SESSION_MAX, "The pytest session, as sent in X-Sandbox-Test-Session"),
        "source": text(SOURCE_MAX, "What ran the tests"),
    },
    "examples": [
        {
            "tests": [{"id": "tests/test_notes.py::test_create", "outcome": "passed"}],
            "source": "curl",
        }
    ],
}
RUN = {
    "type": "object",
    "required": ["number", "tests", "outcomes", "sent_requests", "results", "caught_bugs"],
    "properties": {
        "number": {"type": "integer"},
        "reported_at": {"type": "string"},
        "source": {"type": "string"},
        "tests": {"type": "integer"},
        "outcomes": OBJECT,
        "sent_requests": {"type": "integer", "description": "Tests that sent requests"},
        "passed_with_requests": {"type": "integer"},
        "results": {"type": "array", "items": OBJECT},
        "caught_bugs": {"type": "array", "items": {"type": "string"}},
    },
}
RUNS = {
    "type": "object",
    "required": ["runs"],
    "properties": {"runs": {"type": "array", "items": OBJECT}},
}


def openapi() -> dict[str, Any]:
    """Describe the testing module's routes."""
    tag = ["testing"]
    return {
        "tags": [{"name": "testing", "description": "Test runs reported by pytest (testing)"}],
        "paths": {
            "/testing/runs": {
                "post": {
                    "summary": "Report a test session's outcomes (the pytest plugin does)",
                    "tags": tag,
                    "requestBody": {"required": True, **content(REPORT)},
                    "responses": {
                        "201": ok("The run, matched with the requests each test sent", RUN),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
                "get": {
                    "summary": "The runs reported to this workspace, newest first",
                    "tags": tag,
                    "responses": {"200": ok("The runs", RUNS), **problems(404)},
                },
            },
            "/testing/runs/{number}": {
                "get": {
                    "summary": "One run: each test's outcome and the requests it sent",
                    "tags": tag,
                    "parameters": [
                        {
                            "name": "number",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1, "maximum": NUMBER_MAX},
                        }
                    ],
                    "responses": {"200": ok("The run", RUN), **problems(404)},
                },
            },
        },
    }
