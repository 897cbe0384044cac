"""The cache: answers kept for a while, so the next request for them skips the work.

Built on flask-caching (the well-kept Flask extension; cachelib underneath). By default
the cache lives in this server's memory. Several server processes or machines need
one cache they all see: set ``SANDBOX_CACHE_URL`` to a Redis URL (``redis://host:6379/0``)
or a Memcached address (``memcached://host:11211``) and the same code uses it.

Three ideas carry all of caching, and each is visible here:

- **The key** says which answer this is. Ours name the workspace, who is asking (the
  owner filter: alice's copy of a note is never bob's), what was asked, the state of
  every switch (turning encryption on changes what a read returns) and a *version*.
- **Invalidation**: when a note changes, its version and the workspace's list version go
  up, so every key built from the old versions is never asked for again: stale copies
  are not deleted one by one, they become unreachable and expire.
- **The TTL**: every copy expires after ``ttl`` seconds anyway, so even a missed
  invalidation heals itself eventually.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from flask_caching import Cache

from sandbox import db
from sandbox.record import event
from sandbox.registry import registry

# One Cache object for every app in this process; each app gets its own store (init_app).
cache = Cache()

# Copies of note pages bigger than the API's largest page are not kept: a report reading
# every note in pages of 1,000 would otherwise fill the cache with copies nobody asks for.
LARGEST_PAGE = 100


def backend_config(
    url: str | None, ttl: int, workers: int = 1, data_dir: str = ""
) -> dict[str, Any]:
    """Return flask-caching's settings for ``SANDBOX_CACHE_URL``: memory, Redis or Memcached.

    Unset, the cache is this process's memory. With several worker processes (--workers)
    that would be one cache per worker, each invalidated only by the writes it served: a
    note changed through one worker would stay stale in the others. So they share cachelib's
    cache in files (one file per key, written whole and renamed into place), in the data
    dir: slower than memory, still faster than the work it saves. A Redis server is the real
    answer once there are several machines.
    """
    if not url and workers > 1:
        return {
            "CACHE_TYPE": "FileSystemCache",
            "CACHE_DIR": str(Path(data_dir) / "cache"),
            "CACHE_DEFAULT_TIMEOUT": ttl,
            "CACHE_THRESHOLD": 5000,
        }
    if not url:
        return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": ttl, "CACHE_THRESHOLD": 5000}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url, "CACHE_DEFAULT_TIMEOUT": ttl}
    if url.startswith("memcached://"):
        servers = url.removeprefix("memcached://").split(",")
        return {
            "CACHE_TYPE": "MemcachedCache",
            "CACHE_MEMCACHED_SERVERS": servers,
            "CACHE_DEFAULT_TIMEOUT": ttl,
        }
    raise ValueError(
        f"SANDBOX_CACHE_URL={url!r} is not a cache this sandbox knows. Leave it unset for "
        "the cache in this server's memory, or give redis://host:6379/0 or memcached://host:11211."
    )


def init_app(app: Flask) -> None:
    """Bind the cache to the app (whether the module is on or off: a cache at rest is idle)."""
    config = backend_config(
        app.config["SANDBOX_CACHE_URL"],
        app.config["SANDBOX_CACHE_TTL"],
        app.config["SANDBOX_WORKERS"],
        app.instance_path,
    )
    cache.init_app(app, config=config)
    app.extensions["sandbox.caching.stale"] = StaleCopies()
    app.extensions["sandbox.caching.options"] = {}


# --- options a learner switches while it runs (per workspace, in the caching_options table) ---


def options() -> dict[str, Any]:
    """Return this workspace's options: ``invalidate`` (on a write) and ``ttl`` (seconds).

    Kept in memory once read (a cache of the cache's options): reading them from the
    database on every hit would cost more than the hit saves.
    """
    kept = current_app.extensions["sandbox.caching.options"]
    workspace = db.workspace()
    if workspace not in kept:
        conn = db.connect(db.database_path(), traced=False)  # not the learner's query
        try:
            row = conn.execute(
                "select invalidate, ttl from caching_options where workspace = ?", [workspace]
            ).fetchone()
        finally:
            conn.close()
        default = {"invalidate": True, "ttl": current_app.config["SANDBOX_CACHE_TTL"]}
        kept[workspace] = default if row is None else {"invalidate": bool(row[0]), "ttl": row[1]}
    return dict(kept[workspace])


def set_options(changes: dict[str, Any]) -> dict[str, Any]:
    """Change some options; return them all."""
    merged = {**options(), **changes}
    conn = db.get_db().conn
    with conn:
        conn.execute(
            "insert into caching_options (workspace, invalidate, ttl) values (?, ?, ?) "
            "on conflict (workspace) do update set invalidate = excluded.invalidate, "
            "ttl = excluded.ttl",
            [db.workspace(), int(merged["invalidate"]), merged["ttl"]],
        )
    forget_options(db.workspace())
    return merged


def forget_options(workspace: str) -> None:
    """Read the options from the database next time (they changed, or were reset)."""
    current_app.extensions["sandbox.caching.options"].pop(workspace, None)


# --- keys and versions ---


def _version(name: str) -> int:
    return cache.get(name) or _bump(name)


def _bump(name: str) -> int:
    """Give ``name`` a new version, never used before: the time in nanoseconds.

    Not a counter that starts at 0: if a cache drops a version (memory full, a Redis
    restart), the next version must still be new, or copies made under an old one would
    become reachable again. Versions do not expire (timeout 0).
    """
    version = time.time_ns()
    cache.set(name, version, timeout=0)
    return version


def _switches() -> str:
    # A switch can change what a read returns (encryption, which storage is on): the
    # state of every switch is part of every key.
    state = registry().state()
    return "".join("1" if on else "0" for on in state.values())


def note_key(workspace: str, storage: str, note_id: int, owner: str | None) -> str:
    version = _version(f"v:{workspace}:note:{note_id}")
    epoch = _version(f"v:{workspace}:epoch")
    who = owner if owner is not None else "*everyone*"
    return f"note:{workspace}:{epoch}:{_switches()}:{storage}:{note_id}:v{version}:{who}"


def list_key(workspace: str, storage: str, what: str) -> str:
    version = _version(f"v:{workspace}:lists")
    epoch = _version(f"v:{workspace}:epoch")
    digest = hashlib.sha256(what.encode()).hexdigest()[:16]
    return f"notes:{workspace}:{epoch}:{_switches()}:{storage}:v{version}:{digest}"


def report_key(workspace: str, owner: str | None) -> str:
    # Built on the list version: any note written, changed or deleted makes a new report.
    return list_key(workspace, "report", f"owner={owner}")


def invalidate(workspace: str, note_id: int) -> None:
    """Make the cached copies a change made stale unreachable: the note's, and every list."""
    if note_id:
        _bump(f"v:{workspace}:note:{note_id}")
        stale().drop(workspace, [note_id])
    _bump(f"v:{workspace}:lists")


def forget_workspace(workspace: str) -> None:
    """Make every copy of a workspace unreachable (a reset, or the module switched on)."""
    _bump(f"v:{workspace}:epoch")
    stale().drop(workspace)
    forget_options(workspace)


# --- what happened, for the record and the X-Cache header ---


def note(outcome: str, message: str, **data: Any) -> None:
    """Add a cache event to the record and remember the outcome for the X-Cache header."""
    event("caching", message, cache=outcome, **data)
    if outcome in ("hit", "miss"):
        seen = g.setdefault("sandbox_cache", set())
        seen.add(outcome)


def lookup(key: str, compute: Callable[[], Any], what: str, **data: Any) -> tuple[Any, bool]:
    """Return ``(value, True)`` from the cache, or compute and keep it: ``(value, False)``."""
    found = cache.get(key)
    if found is not None:
        value, cost_ms = found
        note(
            "hit",
            f"cache hit: {what} (computing it took {cost_ms} ms)",
            key=key,
            saved_ms=cost_ms,
            **data,
        )
        return value, True
    started = time.perf_counter()
    value = compute()
    cost_ms = round((time.perf_counter() - started) * 1000, 3)
    note("miss", f"cache miss: {what} computed in {cost_ms} ms", key=key, **data)
    if value is not None:  # "not found" is not kept: it may exist a moment later
        ttl = options()["ttl"]
        cache.set(key, (value, cost_ms), timeout=ttl)
        note("store", f"kept for {ttl} s: {what}", key=key, ttl=ttl, **data)
    return value, False


class StaleCopies:
    """Notes changed while invalidation was off: their cached copies are stale.

    Only for the lesson: the cache cannot know it is serving an old copy (that is the
    whole problem), but the sandbox can remember which notes changed behind the cache's
    back and say so in the record: when a stale copy is served, and when, once that copy
    was dropped, the note is read fresh again.
    """

    def __init__(self) -> None:
        # workspace -> {note id: "stale" | "served" (a stale copy went out) | "dropped"}
        self._notes: dict[str, dict[int, str]] = {}
        self._lock = threading.Lock()

    def mark(self, workspace: str, note_id: int) -> None:
        with self._lock:
            self._notes.setdefault(workspace, {})[note_id] = "stale"

    def served(self, workspace: str, note_id: int) -> bool:
        """Note that a copy of ``note_id`` was served; return whether it was a stale one."""
        with self._lock:
            notes = self._notes.get(workspace, {})
            if notes.get(note_id) in ("stale", "served"):
                notes[note_id] = "served"
                return True
            return False

    def drop(self, workspace: str, note_ids: list[int] | None = None) -> None:
        """The stale copies of these notes (all, with None) are unreachable now."""
        with self._lock:
            notes = self._notes.get(workspace, {})
            for note_id in list(notes) if note_ids is None else note_ids:
                if notes.get(note_id) == "served":
                    notes[note_id] = "dropped"  # the next read is the fix, seen
                else:
                    notes.pop(note_id, None)

    def read_fresh(self, workspace: str, note_id: int) -> bool:
        """Return whether this fresh read follows a stale copy that was served and dropped."""
        with self._lock:
            notes = self._notes.get(workspace, {})
            if notes.get(note_id) == "dropped":
                del notes[note_id]
                return True
            return False


def stale() -> StaleCopies:
    return current_app.extensions["sandbox.caching.stale"]
