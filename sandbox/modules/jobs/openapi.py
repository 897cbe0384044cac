"""The jobs module's part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from sandbox.openapi import SECURITY, content, ok, path_param, problems, ref
from sandbox.validation import components

from .views import ExportOptions

EXPORT_RESULT = {
    "type": "object",
    "required": ["file", "notes", "bytes", "took_ms"],
    "properties": {
        "file": {"type": "string", "description": "The archive, in the data dir's outbox"},
        "notes": {"type": "integer"},
        "bytes": {"type": "integer"},
        "took_ms": {"type": "number"},
    },
}
JOB = {
    "type": "object",
    "required": ["id", "status", "attempts", "result", "error", "tries"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "attempts": {"type": "integer", "description": "How many times a worker started it"},
        "result": {"oneOf": [EXPORT_RESULT, {"type": "null"}]},
        "error": {"type": ["string", "null"], "description": "The last failed try's error"},
        "owner": {"type": "string", "description": "It runs as them"},
        "options": {"type": "object"},
        "tries": {"type": "array", "items": {"type": "object"}},
        "request_record": {"type": ["string", "null"], "description": "Who queued it"},
        "created_at": {"type": "string"},
        "updated_at": {"type": "string"},
        "finished_at": {"type": ["string", "null"]},
    },
}
QUEUE = {
    "type": "object",
    "required": ["backend", "workers", "running", "waiting", "scheduled"],
    "properties": {
        "backend": {"type": "string", "description": "sqlite (jobs.db) or redis"},
        "workers": {"type": "integer"},
        "running": {"type": "boolean", "description": "Whether the workers run"},
        "waiting": {"type": "integer", "description": "Messages no worker has taken yet"},
        "scheduled": {"type": "integer", "description": "Retries waiting for their time"},
    },
}
IN_THE_REQUEST = {
    "type": "object",
    "required": ["status", "ran", "result"],
    "properties": {
        "status": {"const": "done"},
        "ran": {"const": "inside the request"},
        "result": EXPORT_RESULT,
    },
}
JOB_ID = path_param("job_id", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1})
LOCATION = {"Location": {"schema": {"type": "string"}, "description": "Poll this job"}}


def openapi() -> dict[str, Any]:
    """Describe the jobs module's routes."""
    tag = ["jobs"]
    return {
        "tags": [{"name": "jobs", "description": "Work off the request: a queue (jobs)"}],
        "schemas": {"Job": JOB, **components(ExportOptions)},
        "paths": {
            "/api/notes/export": {
                "post": {
                    "summary": "An archive of your notes: built now (jobs off) or queued (on)",
                    "tags": tag,
                    "security": SECURITY,
                    "requestBody": {"required": False, **content(ref("ExportOptions"))},
                    "responses": {
                        "200": ok("Jobs off: built inside the request", IN_THE_REQUEST),
                        "202": ok("Jobs on: queued; poll Location", ref("Job"), headers=LOCATION),
                        **problems(400, 401, 403, 413, 415, 422),
                        "409": {
                            "description": "fail_times with jobs off: nothing would retry",
                            **content(ref("Problem"), "application/problem+json"),
                        },
                    },
                }
            },
            "/jobs": {
                "get": {
                    "summary": "This workspace's newest jobs (yours, with auth on)",
                    "tags": tag,
                    "security": SECURITY,
                    "responses": {
                        "200": ok(
                            "The jobs and the queue",
                            {
                                "type": "object",
                                "properties": {
                                    "jobs": {"type": "array", "items": ref("Job")},
                                    "queue": QUEUE,
                                },
                            },
                        ),
                        **problems(401, 404),
                    },
                }
            },
            "/jobs/{job_id}": {
                "get": {
                    "summary": "One job: its status, tries, result or error",
                    "tags": tag,
                    "security": SECURITY,
                    "parameters": [JOB_ID],
                    "responses": {"200": ok("The job", ref("Job")), **problems(401, 404)},
                }
            },
            "/jobs/queue": {
                "get": {
                    "summary": "Where the queue lives and how many messages wait in it",
                    "tags": tag,
                    "responses": {"200": ok("The queue", QUEUE), **problems(404)},
                }
            },
        },
    }
