"""The caching module's challenges, each checked from the request records."""

from __future__ import annotations

from sandbox.registry import Challenge

# How much faster a cache hit must be than computing the answer.
SPEED_UP = 20


def _cache_events(record, outcome: str) -> list[dict]:
    return [e for e in record.events if e.get("module") == "caching" and e.get("cache") == outcome]


def fast_hit(record, buffer) -> bool:
    """The report came from the cache, at least 20 times faster than computing it took."""
    if record.path != "/caching/report" or record.status != 200 or not record.duration_ms:
        return False
    return any(e["saved_ms"] >= SPEED_UP * record.duration_ms for e in _cache_events(record, "hit"))


def stale_then_fresh(record, buffer) -> bool:
    """Read a note fresh after a stale copy of it was served and then dropped."""
    return any(e.get("stale_fixed") for e in record.events if e.get("module") == "caching")


def yours_alone(record, buffer) -> bool:
    """Asked for a note another user had cached, and got a 404 from the storage, not their copy."""
    if record.method != "GET" or not record.path.startswith("/api/notes/") or record.status != 404:
        return False
    mine = [e for e in _cache_events(record, "miss") if e.get("owner") not in (None, "everyone")]
    for miss in mine:
        for earlier in buffer.recent(100):
            for e in earlier.events:
                if (
                    e.get("module") == "caching"
                    and e.get("cache") in ("store", "hit")
                    and e.get("note_id") == miss["note_id"]
                    and e.get("owner") not in (None, "everyone", miss["owner"])
                ):
                    return True
    return False


CHALLENGES = (
    Challenge(
        id="caching.fast_hit",
        title=f"Get the report from the cache, {SPEED_UP}x faster",
        hint='POST /caching/notes {"count": 10000}, then GET /caching/report twice: the '
        "second answer says X-Cache: hit. Compare the two records' times.",
        check=fast_hit,
    ),
    Challenge(
        id="caching.stale_read",
        title="See a stale read, then fix it",
        hint='PATCH /caching/settings {"invalidate": false}; GET a note twice (the second is '
        "a hit), change it, GET it again (the old text!). Then DELETE /caching/cache or switch "
        "invalidation back on and change the note again, and read it once more.",
        check=stale_then_fresh,
    ),
    Challenge(
        id="caching.yours_alone",
        title="Prove one user's cached note is never another's",
        hint="With auth on, log in as alice and GET one of her notes twice (cached). Log in "
        "as bob and GET the same id: a 404, and the record shows a miss under bob's own key.",
        check=yours_alone,
    ),
)
