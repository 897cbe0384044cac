"""The caching module's routes: the expensive report, generated notes, options, a flush.

The report and the generator answer whether the module is on or off
(``works_when_off``): the same request, timed both ways, is the lesson.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, g

from sandbox import db, notes
from sandbox.errors import ValidationFailed
from sandbox.identity import owner_filter, require_identity
from sandbox.record import event
from sandbox.registry import registry
from sandbox.validation import Field, check, json_body

from . import report
from .cache import cache, forget_workspace, lookup, options, report_key, set_options

bp = Blueprint("caching", __name__, url_prefix="/caching")
# Works with the module off too: measure the report uncached, generate notes to measure with.
open_bp = Blueprint("caching_open", __name__, url_prefix="/caching")

GENERATE_MAX = 20_000
TTL_MAX = 86_400


@open_bp.get("/report")
def get_report() -> dict[str, Any]:
    """Statistics over every note you may see: cached while the module is on."""
    owner = owner_filter(require_identity(write=False))
    if not registry().is_enabled("caching"):
        event("caching", "caching off: the report is computed again for every request")
        return report.compute()
    key = report_key(db.workspace(), owner)
    data, _ = lookup(key, report.compute, "the notes report")
    return data


def whole(data: dict[str, Any], name: str, low: int, high: int, errors: list) -> int | None:
    """Return ``data[name]`` as an int if it is a whole number from low to high; else note why.

    JSON has one number type: 625.0 is the same number as 625, so it is accepted too
    (the OpenAPI document, like JSON Schema, calls both an integer).
    """
    value = data.get(name)
    whole_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if whole_number and low <= value <= high and float(value).is_integer():  # range first
        return int(value)
    errors.append({"field": name, "message": f"A whole number from {low} to {high}."})
    return None


@open_bp.post("/notes")
def generate() -> tuple[dict[str, Any], int]:
    """Add generated notes (yours), to give the report something to chew on."""
    data = check(json_body(), [Field("count", float), Field("seed", float, required=False)])
    errors: list[dict[str, str]] = []
    count = whole(data, "count", 1, GENERATE_MAX, errors)
    seed = whole(data, "seed", 0, 2**63 - 1, errors) if "seed" in data else 1
    if errors:
        raise ValidationFailed(errors)
    started = time.perf_counter()
    created = notes.create_notes(report.generated(count, seed))
    took = round((time.perf_counter() - started) * 1000, 1)
    return {"created": created, "seed": seed, "took_ms": took}, 201


@bp.get("/settings")
def get_settings() -> dict[str, Any]:
    """This workspace's options, and where the cache lives."""
    return {**options(), "backend": backend()}


@bp.patch("/settings")
def change_settings() -> dict[str, Any]:
    """Switch invalidation on or off, or change the TTL."""
    data = check(
        json_body(),
        [Field("invalidate", bool, required=False), Field("ttl", float, required=False)],
    )
    if "ttl" in data:
        errors: list[dict[str, str]] = []
        data["ttl"] = whole(data, "ttl", 1, TTL_MAX, errors)
        if errors:
            raise ValidationFailed(errors)
    changed = set_options(data)
    if data.get("invalidate") is False:
        event("caching", "invalidation off: writes no longer drop cached copies")
    return {**changed, "backend": backend()}


@bp.delete("/cache")
def flush() -> Response:
    """Drop every cached copy of this workspace."""
    forget_workspace(db.workspace())
    event("caching", "every cached copy of this workspace dropped", cache="invalidate")
    return Response(status=204)


def backend() -> str:
    """Name where the cache lives: this server's memory, Redis or Memcached."""
    return type(cache.cache).__name__.removesuffix("Cache").lower().replace("simple", "memory")


def mark_response(record: Any, response: Response) -> Response:
    """Say in X-Cache whether the answer came from the cache (hit) or was computed (miss)."""
    seen = g.get("sandbox_cache")
    if seen:
        response.headers["X-Cache"] = "miss" if "miss" in seen else "hit"
    return response
