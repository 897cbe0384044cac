"""The ratelimit module's routes: this workspace's limit, read and changed while it runs.

The limit itself is applied by the module's hooks (limiter.py), on every route under
/api/ and /server/; these routes are never limited, so a limit of 1 per day cannot lock
a learner out of changing it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from flask import Blueprint
from pydantic import AfterValidator, Field

from sandbox.record import event
from sandbox.validation import Body, read

from . import limiter
from .limiter import LIMITED, STRATEGIES, Options, describe, options, parse_rate, set_options

bp = Blueprint("ratelimit", __name__, url_prefix="/ratelimit")


def _standard_rate(text: str) -> str:
    return parse_rate(text)[0]  # a ValueError says what is wrong, as the field's message


# The shape of a rate, for the document (the library's own parser decides in the end).
RATE_PATTERN = r"^\s*\d{1,6}\s*(/|per)\s*\d{0,5}\s*(second|minute|hour|day)s?\s*$"
Rate = Annotated[
    str,
    Field(max_length=40, json_schema_extra={"pattern": RATE_PATTERN}),
    AfterValidator(_standard_rate),
]


class RatelimitSettings(Body):
    """This workspace's limit and strategy: any of them."""

    limit: Rate = Field(
        None,
        description='requests per window, from 1 to 10,000 in 1 s to 1 day: "5/minute", '
        '"3/2second", "100 per hour"',
        examples=["5/minute", "3/2second"],
    )
    strategy: Literal[tuple(STRATEGIES)] = Field(  # type: ignore[valid-type]
        None, description="how the window moves: " + ", ".join(STRATEGIES)
    )


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
    data = read(RatelimitSettings).model_dump(exclude_unset=True)
    found = set_options(data)
    event(
        "ratelimit",
        f"limit now {describe(found.item)} ({found.strategy}): each client's count starts "
        "again under it",
        limit=found.rate,
        strategy=found.strategy,
    )
    return shown(found)
