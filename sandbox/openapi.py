"""The OpenAPI 3.1 contract: what a frontend team builds against.

The promise the API makes. What a request body may be is not written here: it is
generated from the pydantic models that check those bodies (validation.py, beside this file),
so the promise and the check are one thing. The rest (paths, answers) is written by
hand, and a test runs schemathesis against the whole (thousands of generated requests)
so the promise and the code cannot drift apart.

The core describes its own routes (/sandbox/...) and the shapes every part shares
(a note, a problem, a record); each module describes its own routes in its
``openapi()`` (``Module(openapi=...)``), and :func:`document` puts them together.
"""

from __future__ import annotations

from typing import Any

from sandbox import __version__, inspector, notes
from sandbox.validation import components, header_parameters, query_parameters


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def content(schema: dict[str, Any], mimetype: str = "application/json") -> dict[str, Any]:
    return {"content": {mimetype: {"schema": schema}}}


def ok(description: str, schema: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    answer = {"description": description, **extra}
    if schema is not None:
        answer.update(content(schema))
    return answer


def problems(*statuses: int) -> dict[str, Any]:
    """Problem answers: each status a problem+json document."""
    texts = {
        400: "The request is malformed (the detail says how)",
        401: "With auth on: no credentials, or a token that does not work (see WWW-Authenticate)",
        403: "With auth on: a read-only token tried to change something",
        404: "Not found, or its module is switched off",
        405: "Method not allowed",
        409: "The request conflicts with the current state (the detail says which)",
        412: "If-Match does not match the current version",
        413: "The body is over 1 MB",
        415: "The body is not JSON",
        422: "Some fields are wrong (see errors)",
    }
    answers = {}
    for status in statuses:
        schema = ref("ValidationProblem" if status == 422 else "Problem")
        answers[str(status)] = {
            "description": texts[status],
            **content(schema, "application/problem+json"),
        }
    return answers


def body(schema_name: str) -> dict[str, Any]:
    return {"required": True, **content(ref(schema_name))}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


ID = {"type": "string", "minLength": 1}  # a record's id
NOTE_ID = path_param("note_id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
MODULE = path_param("name", {"type": "string"})
NOT_MODIFIED = {"304": {"description": "Not modified: your copy (If-None-Match) is current"}}
ETAG = {"ETag": {"schema": {"type": "string"}, "description": "The version of this answer"}}
# Who may call: anyone while no module checks ({}), else a scheme a module describes (the
# auth module's bearer token and session cookie). Schemes no loaded module describes are
# left out of the document (see document()).
SECURITY = [{}, {"bearer": []}, {"cookie": []}]

SCHEMAS: dict[str, Any] = {
    "Note": {
        "type": "object",
        "required": ["id", "owner", "title", "body", "tags", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"},
            "owner": {"type": "string"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
        },
    },
    "NoteList": {
        "type": "object",
        "required": ["items", "total", "limit", "offset", "next", "prev"],
        "properties": {
            "items": {"type": "array", "items": ref("Note")},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next": {"type": ["string", "null"]},
            "prev": {"type": ["string", "null"]},
        },
    },
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "trace": {"type": "string"},
            "module": {"type": "string"},
        },
    },
    "ValidationProblem": {
        "allOf": [
            ref("Problem"),
            {
                "type": "object",
                "required": ["errors"],
                "properties": {
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["field", "loc", "message", "fix"],
                            "properties": {
                                "field": {"type": "string", "description": "The field"},
                                "loc": {
                                    "type": "array",
                                    "items": {"type": ["string", "integer"]},
                                    "description": 'Where: ["tags", 3] is the 4th tag',
                                },
                                "message": {"type": "string", "description": "What was wrong"},
                                "fix": {"type": "string", "description": "How to fix it"},
                                "type": {"type": "string", "description": "The kind of error"},
                                "input_type": {
                                    "type": "string",
                                    "description": "The JSON type that was sent",
                                },
                            },
                        },
                    }
                },
            },
        ],
    },
    "Module": {
        "type": "object",
        "required": ["name", "title", "summary", "enabled"],
        "properties": {
            "name": {"type": "string"},
            "title": {"type": "string"},
            "summary": {"type": "string"},
            "enabled": {"type": "boolean"},
            "enabled_by_default": {"type": "boolean"},
            "url_prefix": {"type": "string"},
            "challenges": {"type": "array", "items": {"type": "string"}},
        },
    },
    "TraceSummary": {
        "type": "object",
        "required": ["id", "method", "path", "status", "module", "duration_ms"],
        "properties": {
            "id": {"type": "string"},
            "time": {"type": "string"},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "status": {"type": ["integer", "null"]},
            "module": {"type": ["string", "null"]},
            "duration_ms": {"type": ["number", "null"]},
            "sql_count": {"type": "integer"},
            "event_count": {"type": "integer"},
            "parent": {
                "type": ["string", "null"],
                "description": "Work outside a request (a job): the request that caused it",
            },
        },
    },
    "Trace": {
        "type": "object",
        "required": [
            "id",
            "method",
            "path",
            "status",
            "module",
            "request",
            "response",
            "sql",
            "events",
        ],
        "properties": {
            "id": {"type": "string"},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "status": {"type": ["integer", "null"]},
            "module": {"type": ["string", "null"]},
            "duration_ms": {"type": ["number", "null"]},
            "parent": {"type": ["string", "null"]},
            "thread": {"type": "string", "description": "The server thread that did the work"},
            "request": {"type": "object"},
            "response": {"type": "object"},
            "sql": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sql", "params", "duration_ms"],
                    "properties": {
                        "sql": {"type": "string"},
                        "duration_ms": {"type": ["number", "null"]},
                    },
                },
            },
            "events": {
                "type": "array",
                "items": {"type": "object", "required": ["module", "message"]},
            },
            "spans": {
                "type": "array",
                "description": "The phases (gate, module hooks, view, response): the waterfall",
                "items": {
                    "type": "object",
                    "required": ["name", "at_ms", "duration_ms"],
                    "properties": {
                        "name": {"type": "string"},
                        "at_ms": {"type": "number", "description": "From the request's start"},
                        "duration_ms": {"type": ["number", "null"]},
                    },
                },
            },
            "exception": {"type": ["object", "null"]},
        },
    },
    "SQLResult": {
        "type": "object",
        "required": ["columns", "rows", "truncated", "blob_columns"],
        "properties": {
            "columns": {"type": "array", "items": {"type": "string"}},
            "rows": {"type": "array", "items": {"type": "array"}},
            "truncated": {"type": "boolean"},
            "blob_columns": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Columns that held binary data, shown as hex literals x'00ff'",
            },
            "note": {"type": "string", "description": "What was left out or shown differently"},
            "duration_ms": {"type": "number"},
            "plan": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Snapshot": {
        "type": "object",
        "required": ["name", "created_at", "bytes", "notes", "rows"],
        "properties": {
            "name": {"type": "string"},
            "created_at": {"type": ["string", "null"]},
            "bytes": {"type": "integer", "description": "The size of its file"},
            "notes": {"type": "integer"},
            "rows": {"type": "integer", "description": "Rows saved, of every table"},
            "from": {
                "type": "string",
                "description": "In a class, 'your instructor': a hand-out (class:<name>), "
                "to restore, not to delete",
            },
            "starts_new_students": {"type": "boolean"},
            "modules_did": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "After a restore: what each module did (jobs queued again)",
            },
        },
    },
    "Challenge": {
        "type": "object",
        "required": ["id", "module", "title", "solved"],
        "properties": {
            "id": {"type": "string"},
            "module": {"type": "string"},
            "title": {"type": "string"},
            "hint": {"type": "string"},
            "solved": {"type": "boolean"},
            "solved_at": {"type": ["string", "null"]},
            "trace_id": {"type": ["string", "null"]},
            "in_scope": {
                "type": "boolean",
                "description": "Whether it counts here (a class's preset may choose some)",
            },
        },
    },
}

# Request bodies: generated from the models that check them.
SCHEMAS.update(
    components(
        notes.NoteInput,
        notes.NotePatch,
        inspector.Toggle,
        inspector.SQLQuery,
        inspector.SnapshotRequest,
    )
)
# class:<name>: a hand-out of the class's instructor (class mode), restorable by every student.
SNAPSHOT_NAME = path_param("name", {"type": "string", "pattern": "^(class:)?[a-z0-9-]{1,40}$"})

OBJECT = {"type": "object"}
SANDBOX_TAG = {"name": "sandbox", "description": "Toggles, records, progress, SQL console"}


def paths() -> dict[str, Any]:
    """Describe the core's own endpoints, under /sandbox/."""
    # The answer of a listing and of a switch alike: every module and whether it is on.
    modules = ok(
        "Modules",
        {
            "type": "object",
            "required": ["modules"],
            "properties": {"modules": {"type": "array", "items": ref("Module")}},
        },
    )
    return {
        "/sandbox/health": {
            "get": {
                "summary": "Is the sandbox up?",
                "tags": ["sandbox"],
                "responses": {
                    "200": ok(
                        "Up",
                        {
                            "type": "object",
                            "required": ["status"],
                            "properties": {"status": {"const": "ok"}},
                        },
                    )
                },
            }
        },
        "/sandbox/settings": {
            "get": {
                "summary": "Every setting with its help",
                "tags": ["sandbox"],
                "responses": {"200": ok("Settings", OBJECT)},
            }
        },
        "/sandbox/modules": {
            "get": {
                "summary": "Every module and whether it is on",
                "tags": ["sandbox"],
                "responses": {"200": modules},
            },
            "patch": {
                "summary": "Switch several modules at once (a lesson's starting states)",
                "tags": ["sandbox"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "minProperties": 1,
                                "additionalProperties": {"type": "boolean"},
                                "example": {"encryption": True, "auth": False},
                            }
                        }
                    },
                },
                "responses": {
                    "200": modules,
                    **problems(400, 404, 413, 415, 422),
                },
            },
        },
        "/sandbox/modules/{name}": {
            "parameters": [MODULE],
            "get": {
                "summary": "One module",
                "tags": ["sandbox"],
                "responses": {"200": ok("The module", ref("Module")), **problems(404)},
            },
            "patch": {
                "summary": "Switch a module on or off",
                "tags": ["sandbox"],
                "requestBody": body("Toggle"),
                "responses": {
                    "200": ok("The module, switched", ref("Module")),
                    **problems(400, 404, 413, 415, 422),
                },
            },
        },
        "/sandbox/modules/{name}/source": {
            "parameters": [MODULE],
            "get": {
                "summary": "The module's source, from the running package",
                "tags": ["sandbox"],
                "responses": {"200": ok("Source files", OBJECT), **problems(404)},
            },
        },
        "/sandbox/traces": {
            "get": {
                "summary": "Recent request records, newest first",
                "tags": ["sandbox"],
                # Generated from the model that checks the query: they cannot disagree.
                "parameters": query_parameters(inspector.TraceFilter),
                "responses": {
                    "200": ok(
                        "Records",
                        {
                            "type": "object",
                            "required": ["traces"],
                            "properties": {
                                "traces": {"type": "array", "items": ref("TraceSummary")}
                            },
                        },
                    ),
                    **problems(422),
                },
            }
        },
        "/sandbox/traces/stream": {
            "get": {
                "summary": "Server-Sent Events: each record as it completes",
                "tags": ["sandbox"],
                "parameters": [
                    *query_parameters(inspector.FeedQuery),
                    *header_parameters(inspector.FeedHeaders),
                ],
                "responses": {
                    "200": {
                        "description": "An event stream",
                        **content({"type": "string"}, "text/event-stream"),
                    },
                    **problems(422),
                },
            }
        },
        "/sandbox/traces/{trace_id}": {
            "parameters": [path_param("trace_id", {"type": "string"})],
            "get": {
                "summary": "One request record in full",
                "tags": ["sandbox"],
                "responses": {"200": ok("The record", ref("Trace")), **problems(404)},
            },
        },
        "/sandbox/traces/{trace_id}/as/{format}": {
            "parameters": [
                path_param("trace_id", {"type": "string"}),
                path_param(
                    "format", {"type": "string", "enum": ["curl", "httpie", "requests", "fetch"]}
                ),
            ],
            "get": {
                "summary": "A record's request for curl, HTTPie, Python requests or fetch",
                "description": "Secrets (Authorization, cookies, tokens) are left as variables "
                "($AUTH, $COOKIES...); the notes say where each value comes from.",
                "tags": ["sandbox"],
                "responses": {
                    "200": ok(
                        "The command",
                        {
                            "type": "object",
                            "required": ["format", "command", "notes"],
                            "properties": {
                                "format": {"type": "string"},
                                "command": {"type": "string"},
                                "notes": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    ),
                    **problems(400, 404),
                },
            },
        },
        "/sandbox/compare": {
            "get": {
                "summary": "Two records side by side, what differs marked",
                "description": "Each field as {a, b, same}; SQL and events lined up as diff "
                "does. A browser asking for HTML gets a page.",
                "tags": ["sandbox"],
                "parameters": query_parameters(inspector.ComparePair),
                "responses": {
                    "200": ok(
                        "The comparison",
                        {
                            "type": "object",
                            "required": ["a", "b", "differs", "status", "sql", "events"],
                            "properties": {
                                "a": {"type": "string"},
                                "b": {"type": "string"},
                                "differs": {"type": "array", "items": {"type": "string"}},
                            },
                        },
                    ),
                    **problems(404, 422),
                },
            }
        },
        "/sandbox/progress": {
            "get": {
                "summary": "Every challenge and whether it is solved",
                "tags": ["sandbox"],
                "responses": {
                    "200": ok(
                        "Progress",
                        {
                            "type": "object",
                            "required": ["challenges", "solved", "total"],
                            "properties": {
                                "challenges": {"type": "array", "items": ref("Challenge")},
                                "solved": {"type": "integer"},
                                "total": {"type": "integer"},
                            },
                        },
                    )
                },
            }
        },
        "/sandbox/reset": {
            "post": {
                "summary": "Put data, toggles and progress back to the start",
                "tags": ["sandbox"],
                "responses": {"200": ok("Reset", OBJECT)},
            }
        },
        "/sandbox/snapshots": {
            "get": {
                "summary": "This workspace's snapshots, newest first",
                "tags": ["sandbox"],
                "responses": {
                    "200": ok(
                        "The snapshots",
                        {
                            "type": "object",
                            "required": ["snapshots", "limit"],
                            "properties": {
                                "snapshots": {"type": "array", "items": ref("Snapshot")},
                                "limit": {"type": "integer"},
                            },
                        },
                    )
                },
            },
            "post": {
                "summary": "Save this workspace's data, switches, progress and keys",
                "tags": ["sandbox"],
                "requestBody": body("SnapshotRequest"),
                "responses": {
                    "201": ok("Saved", ref("Snapshot")),
                    **problems(400, 403, 409, 413, 415, 422),
                },
            },
        },
        "/sandbox/snapshots/{name}/restore": {
            "parameters": [SNAPSHOT_NAME],
            "post": {
                "summary": "Put this workspace back to a snapshot, in one transaction",
                "tags": ["sandbox"],
                "responses": {
                    "200": ok("Restored", ref("Snapshot")),
                    **problems(400, 404, 409),
                },
            },
        },
        "/sandbox/snapshots/{name}": {
            "parameters": [SNAPSHOT_NAME],
            "delete": {
                "summary": "Delete a snapshot",
                "tags": ["sandbox"],
                "responses": {"204": {"description": "Deleted"}, **problems(400, 403, 404)},
            },
        },
        "/sandbox/sql": {
            "post": {
                "summary": "Run one read-only SQL statement",
                "tags": ["sandbox"],
                "requestBody": body("SQLQuery"),
                "responses": {
                    "200": ok("The result", ref("SQLResult")),
                    **problems(400, 413, 415, 422),
                },
            }
        },
    }


def document() -> dict[str, Any]:
    """Return the whole OpenAPI document: the core's paths, then each module's own."""
    from sandbox.registry import registry

    all_paths, schemas, schemes, tags = paths(), dict(SCHEMAS), {}, [SANDBOX_TAG]
    for module in registry().modules.values():
        if module.openapi is None:
            continue
        part = module.openapi()
        all_paths.update(part.get("paths", {}))
        schemas.update(part.get("schemas", {}))
        schemes.update(part.get("securitySchemes", {}))
        tags += [tag for tag in part.get("tags", ()) if tag not in tags]
    for item in all_paths.values():
        for operation in item.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [
                    need for need in operation["security"] if set(need) <= set(schemes)
                ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Backend sandbox API",
            "version": __version__,
            "description": "Each module's routes under its own prefix, and the sandbox's own "
            "inspector under /sandbox/. Every error is an RFC 9457 problem "
            "(application/problem+json).",
        },
        "tags": tags,
        "paths": all_paths,
        "components": {"schemas": schemas, "securitySchemes": schemes},
    }
