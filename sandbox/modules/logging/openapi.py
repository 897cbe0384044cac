"""The logging module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import OBJECT, body, content, ok, problems
from sandbox.validation import components, query_parameters

from .views import BugAnswer, BugSwitch, LevelChange, LineFilter, NPlusOneAnswer, RecordAnswer


def openapi() -> dict[str, Any]:
    """Describe the logging module's routes."""
    tag = ["logging"]
    return {
        "schemas": components(LevelChange, BugSwitch, BugAnswer, RecordAnswer, NPlusOneAnswer),
        "tags": [{"name": "logging", "description": "Structured logs and planted bugs (logging)"}],
        "paths": {
            "/logging/": {
                "get": {
                    "summary": "The log viewer (a page)",
                    "tags": tag,
                    "responses": {"200": {"description": "The page", **content({}, "text/html")}},
                }
            },
            "/logging/lines": {
                "get": {
                    "summary": "Log lines that match the filters, oldest first",
                    "tags": tag,
                    # Generated from the model that checks the filters.
                    "parameters": query_parameters(LineFilter),
                    "responses": {"200": ok("The lines", OBJECT), **problems(422)},
                }
            },
            "/logging/levels": {
                "get": {
                    "summary": "Each module's level in this workspace",
                    "tags": tag,
                    "responses": {"200": ok("The levels", OBJECT), **problems(404)},
                },
                "put": {
                    "summary": "Set one module's level, live",
                    "tags": tag,
                    "requestBody": body("LevelChange"),
                    "responses": {
                        "200": ok("The levels", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
            "/logging/bugs": {
                "get": {
                    "summary": "Whether a bug is planted (not which)",
                    "tags": tag,
                    "responses": {"200": ok("The bug's state", OBJECT), **problems(404)},
                },
                "post": {
                    "summary": "Plant a bug (at random unless named), or remove it",
                    "tags": tag,
                    "requestBody": body("BugSwitch"),
                    "responses": {
                        "200": ok("The bug's state", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
            "/logging/bugs/answer": {
                "post": {
                    "summary": "Name the planted bug; the server checks it",
                    "tags": tag,
                    "requestBody": body("BugAnswer"),
                    "responses": {
                        "200": ok("Found", OBJECT),
                        **problems(400, 404, 409, 413, 415, 422),
                    },
                },
            },
            "/logging/drill": {
                "post": {
                    "summary": "Run twelve import jobs, one of which fails",
                    "tags": tag,
                    "responses": {"200": ok("The failed job's message", OBJECT), **problems(404)},
                }
            },
            "/logging/drill/answer": {
                "post": {
                    "summary": "Name the record of the failed import",
                    "tags": tag,
                    "requestBody": body("RecordAnswer"),
                    "responses": {
                        "200": ok("Found", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
            "/logging/n-plus-one": {
                "post": {
                    "summary": "Name a notes list's record that ran a query per note",
                    "tags": tag,
                    "requestBody": body("NPlusOneAnswer"),
                    "responses": {
                        "200": ok("Spotted", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
        },
    }
