"""The logging module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from flask import current_app

from sandbox.openapi import OBJECT, content, ok, problems, query, ref

from .bugs import BUGS
from .logs import EVERY_MODULE, LEVELS

BUG_NAME = {"type": "string", "enum": list(BUGS)}
RECORD_ID = {"type": "string", "maxLength": 40}
NO_BUG = {
    "409": {
        "description": "No bug is planted to name",
        **content(ref("Problem"), "application/problem+json"),
    }
}
AFTER = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
LIMIT = {"type": "integer", "minimum": 1, "maximum": 1000}


def _writers() -> list[str]:
    """Return the names of the loggers' modules: every module, the core and the notes."""
    registry = current_app.extensions.get("sandbox.registry")
    return sorted({*(registry.modules if registry else ()), "sandbox", "notes"})


def _body(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }
    return {"required": True, **content(schema)}


def openapi() -> dict[str, Any]:
    """Describe the logging module's routes."""
    tag = ["logging"]
    writers = _writers()
    level = {"type": "string", "enum": list(LEVELS)}
    return {
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
                    "parameters": [
                        query("level", level, "This level and above"),
                        query("module", {"type": "string", "enum": writers}, "One module's"),
                        query("record", RECORD_ID, "One record's lines"),
                        query("q", {"type": "string", "maxLength": 200}, "Text in the message"),
                        query("after", AFTER, "Lines after this seq"),
                        query("limit", LIMIT, "At most this many lines"),
                    ],
                    "responses": {"200": ok("The lines", OBJECT), **problems(400)},
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
                    "requestBody": _body(
                        ["module", "level"],
                        {
                            "module": {"type": "string", "enum": [*writers, EVERY_MODULE]},
                            "level": level,
                        },
                    ),
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
                    "requestBody": _body(
                        ["planted"], {"planted": {"type": "boolean"}, "bug": BUG_NAME}
                    ),
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
                    "requestBody": _body(["bug"], {"bug": BUG_NAME}),
                    "responses": {
                        "200": ok("Found", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                        **NO_BUG,
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
                    "requestBody": _body(["record"], {"record": RECORD_ID}),
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
                    "requestBody": _body(
                        ["record", "sql_count"],
                        {"record": RECORD_ID, "sql_count": {"type": "integer"}},
                    ),
                    "responses": {
                        "200": ok("Spotted", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                    },
                },
            },
        },
    }
