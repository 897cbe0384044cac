"""The testing module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import OBJECT, body, ok, problems
from sandbox.validation import components

from .runs import NUMBER_MAX, RunReport

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
        "schemas": components(RunReport),
        "tags": [{"name": "testing", "description": "Test runs reported by pytest (testing)"}],
        "paths": {
            "/testing/runs": {
                "post": {
                    "summary": "Report a test session's outcomes (the pytest plugin does)",
                    "tags": tag,
                    "requestBody": body("RunReport"),
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
