"""The ratelimit module's challenges, each checked from the request records."""

from __future__ import annotations

from typing import Any

from sandbox.registry import Challenge


def verdict(record: Any) -> dict[str, Any] | None:
    """Return the limiter's event in a record (allowed or refused), or None."""
    return next(
        (e for e in record.events if e.get("module") == "ratelimit" and "allowed" in e), None
    )


def refusals(buffer: Any) -> list[tuple[Any, dict[str, Any]]]:
    """Return the recent 429s of the limiter, with their events."""
    found = []
    for earlier in buffer.recent(100):
        # The status first: this runs after every request until solved, and most are not 429s.
        if earlier.status == 429 and (seen := verdict(earlier)) is not None and not seen["allowed"]:
            found.append((earlier, seen))
    return found


def came_back(record: Any, buffer: Any) -> bool:
    """A 2xx on a key that was refused a 429 before, at least Retry-After seconds after it."""
    mine = verdict(record)
    if mine is None or not mine["allowed"] or not 200 <= (record.status or 0) < 300:
        return False
    return any(
        seen["key"] == mine["key"]
        and seen["limit"] == mine["limit"]
        and record.wall - refused.wall >= seen["retry_after"]
        for refused, seen in refusals(buffer)
    )


def yours_alone(record: Any, buffer: Any) -> bool:
    """A 2xx on a route while another client's 429 on the same route still held."""
    mine = verdict(record)
    if mine is None or not mine["allowed"] or not 200 <= (record.status or 0) < 300:
        return False
    return any(
        seen["key"] != mine["key"]
        and seen["limit"] == mine["limit"]
        and refused.path == record.path
        and refused.wall <= record.wall < refused.wall + seen["retry_after"]
        for refused, seen in refusals(buffer)
    )


CHALLENGES = (
    Challenge(
        id="ratelimit.come_back",
        title="Get limited, and come back after Retry-After",
        hint='PATCH /ratelimit/settings {"limit": "3/2second"}, then GET /server/get four '
        "times at once: the fourth is a 429 with Retry-After. Wait that many seconds and "
        "GET it again: a 200.",
        check=came_back,
    ),
    Challenge(
        id="ratelimit.yours_alone",
        title="See that your limit is yours alone",
        hint="With auth on, log in as alice in one client and as bob in another. Send as "
        "alice until she gets a 429; right after, the same request as bob gets a 200: each "
        "user has a count of their own.",
        check=yours_alone,
    ),
)
