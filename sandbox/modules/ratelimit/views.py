"""The ratelimit module's routes: this workspace's limit, read and changed while it runs.

The limit itself is applied by the module's hooks (limiter.py), on every route under
/api/ and /server/; these routes are never limited, so a limit of 1 per day cannot lock
a learner out of changing it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from sandbox.errors import ValidationFailed
from sandbox.record import event
from sandbox.validation import Field, check, json_body

from . import limiter
from .limiter import LIMITED, STRATEGIES, Options, describe, options, parse_rate, set_options

bp = Blueprint("ratelimit", __name__, url_prefix="/ratelimit")


def shown(found: Options) -> dict[str, Any]:
    """Return the options as the settings routes answer them."""
    return {
        "limit": found.rate,
        "means": describe(found.item),
        "strategy": found.strategy,
        "default": limiter.limits().default_rate,
        "strategies": list(STRATEGIES),
        "limited": [f"{prefix}..." for prefix in LIMITED],
        "key": "per workspace, then per user (with auth on) or per address (the guest)",
        "storage": limiter.limits().backend,
    }


@bp.get("/settings")
def get_settings() -> dict[str, Any]:
    """This workspace's limit, its strategy, and where the counts live."""
    return shown(options())


@bp.patch("/settings")
def change_settings() -> dict[str, Any]:
    """Change the limit ("5/minute", "3/2second") or the strategy; new counts start at once."""
    data = check(
        json_body(),
        [
            Field("limit", str, required=False, max_length=40),
            Field("strategy", str, required=False),
        ],
    )
    errors: list[dict[str, str]] = []
    if "limit" in data:
        try:
            data["limit"], _ = parse_rate(data["limit"])
        except ValueError as error:
            errors.append({"field": "limit", "message": str(error)})
    if "strategy" in data and data["strategy"] not in STRATEGIES:
        errors.append({"field": "strategy", "message": f"One of {', '.join(STRATEGIES)}."})
    if errors:
        raise ValidationFailed(errors)
    found = set_options(data)
    event(
        "ratelimit",
        f"limit now {describe(found.item)} ({found.strategy}): each client's count starts "
        "again under it",
        limit=found.rate,
        strategy=found.strategy,
    )
    return shown(found)
