"""The indexing module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import OBJECT, body, content, ok, path_param, problems, ref
from sandbox.validation import components, query_parameters

from .indexes import MAX_COLUMNS, WHITELIST
from .views import IndexingOrdersRequest, OrderSearch, OrderTotal


def index_body(table: str, columns: tuple[str, ...]) -> dict[str, Any]:
    """The body that makes an index on ``table``: its whitelisted columns only."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["table", "columns"],
        "properties": {
            "table": {"type": "string", "enum": [table]},
            "columns": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_COLUMNS,
                "uniqueItems": True,
                "items": {"type": "string", "enum": list(columns)},
                "description": "In index order (GET /indexing/indexes lists the columns)",
            },
        },
    }


# One shape per table: a column is allowed only with the table it belongs to.
INDEX = {"oneOf": [index_body(table, columns) for table, columns in WHITELIST.items()]}


def problem(status: int, description: str) -> dict[str, Any]:
    """A problem answer with a status the core's list does not describe."""
    return {
        str(status): {
            "description": description,
            **content(ref("Problem"), "application/problem+json"),
        }
    }


def openapi() -> dict[str, Any]:
    """Describe the indexing module's routes."""
    tag = ["indexing"]
    return {
        "schemas": components(IndexingOrdersRequest),
        "tags": [{"name": "indexing", "description": "Orders to search, and indexes (indexing)"}],
        "paths": {
            "/indexing/orders": {
                "get": {
                    "summary": "The 50 latest orders that match: with its SQL, plan and time",
                    "tags": tag,
                    "parameters": query_parameters(OrderSearch),  # from the model that checks
                    "responses": {
                        "200": ok("The orders, the SQL, its plan", OBJECT),
                        **problems(422),
                    },
                },
                "post": {
                    "summary": "Add generated orders to this workspace",
                    "tags": tag,
                    "requestBody": body("IndexingOrdersRequest"),
                    "responses": {
                        "201": ok("How many were made, and how long inserting took", OBJECT),
                        **problems(400, 413, 415, 422),
                        **problem(409, "The workspace would hold more orders than allowed"),
                    },
                },
                "delete": {
                    "summary": "Delete every order of this workspace",
                    "tags": tag,
                    "responses": {"204": {"description": "Deleted"}},
                },
            },
            "/indexing/orders/total": {
                "get": {
                    "summary": "A customer's number of orders and spending (cents)",
                    "tags": tag,
                    "parameters": query_parameters(OrderTotal),
                    "responses": {
                        "200": ok("The totals, the SQL, its plan", OBJECT),
                        **problems(422),
                    },
                }
            },
            "/indexing/queries": {
                "get": {
                    "summary": "The questions asked of the orders, with their SQL",
                    "tags": tag,
                    "responses": {"200": ok("The questions", OBJECT)},
                }
            },
            "/indexing/indexes": {
                "get": {
                    "summary": "Your indexes and the sandbox's, with their sizes",
                    "tags": tag,
                    "responses": {"200": ok("The indexes", OBJECT), **problems(404)},
                },
                "post": {
                    "summary": "Make an index on whitelisted columns",
                    "tags": tag,
                    "requestBody": {"required": True, **content(INDEX)},
                    "responses": {
                        "201": ok("The index made, its SQL and how long it took", OBJECT),
                        **problems(400, 404, 413, 415, 422),
                        **problem(409, "It exists already, or you have as many as allowed"),
                    },
                },
            },
            "/indexing/indexes/{name}": {
                "delete": {
                    "summary": "Drop one of your indexes",
                    "tags": tag,
                    "parameters": [path_param("name", {"type": "string"})],
                    "responses": {
                        "204": {"description": "Dropped"},
                        **problems(404),
                        **problem(403, "One of the sandbox's own indexes: not yours to drop"),
                    },
                }
            },
        },
    }
