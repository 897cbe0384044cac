"""The caching module's routes: the expensive report, generated notes, options, a flush.

The report and the generator answer whether the module is on or off
(``works_when_off``): the same request, timed both ways, is the lesson.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, g
from pydantic import Field

from sandbox import db, notes
from sandbox.identity import owner_filter, require_identity
from sandbox.record import event
from sandbox.registry import registry
from sandbox.validation import Body, Whole, read

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


class CachingNotesRequest(Body):
    """How many notes to generate, and from which seed."""

    count: Whole = Field(
        ge=1, le=GENERATE_MAX, description=f"a whole number from 1 to {GENERATE_MAX}"
    )
    seed: Whole = Field(
        1,
        ge=0,
        le=2**63 - 1,
        description="a whole number from 0 to 2**63 - 1: the same seed makes the same notes",
    )


class CachingSettings(Body):
    """This workspace's cache options: any of them."""

    invalidate: bool = Field(
        None, description="true or false: drop cached copies when notes change"
    )
    ttl: Whole = Field(
        None, ge=1, le=TTL_MAX, description=f"seconds a copy is kept, from 1 to {TTL_MAX}"
    )


@open_bp.post("/notes")
def generate() -> tuple[dict[str, Any], int]:
    """Add generated notes (yours), to give the report something to chew on."""
    asked = read(CachingNotesRequest)
    count, seed = asked.count, asked.seed
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
    data = read(CachingSettings).model_dump(exclude_unset=True)
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
