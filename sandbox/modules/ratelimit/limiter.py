"""The rate limiter: how many requests each client may send in a window of time.

Built on ``limits``, the library flask-limiter is built on: the same strategies (fixed
window, moving window, sliding window counter) and the same storage (this server's
memory by default; ``SANDBOX_RATELIMIT_STORAGE_URL=redis://host:6379/0`` for one count
shared by several server processes or machines). Why not flask-limiter's ``Limiter``
object itself? Its ``init_app`` adds its own before/after hooks to the whole app, which
would run while the module is off too, ahead of the sandbox's gate; and its manual entry
(``with limiter.limit(...)``) finds the calling line in the traceback, a hack its own
source says it is. A limiter is three calls to its engine, which is what ``Limiter``
makes for each request (``_check_request_limit``): ``hit`` (count this request, and say
whether it is within the limit), ``get_window_stats`` (how many are left, and when the
window resets), and the key. So the module calls them from its own hooks, which run
only while it is on, with keys and limits of its own: per workspace, per user.

The ideas, each visible here:

- **The key** says whose count this is: the workspace, then the user (the username, with
  auth on) or, for the shared guest, the client's address. Alice's flood uses up
  Alice's budget only.
- **The limit** (``5/minute``, ``3/2second``) comes from the settings, and each workspace
  may change its own while the server runs: ``PATCH /ratelimit/settings``.
- **Counting is atomic**: the storage adds one and returns the new count in one step (a
  lock in memory, ``INCR`` in Redis), so 50 requests racing for the last 5 places get 5,
  never more. Reading the count and then writing count + 1 would let them all in.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse
from limits.errors import ConfigurationError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import STRATEGIES, RateLimiter

from sandbox import db
from sandbox.errors import SandboxError
from sandbox.identity import current_identity
from sandbox.record import event

# What is limited: the notes API and the HTTP playground. The rest (the switches, the
# records, this module's own settings) never is: a learner must always be able to look
# inside, and to switch the limit off.
LIMITED = ("/api/", "/server/")

# A rate as a learner writes it: "5/minute", "3/2second", "100 per hour".
RATE = re.compile(r"^\s*(\d{1,6})\s*(?:/|per)\s*(\d{0,5})\s*(second|minute|hour|day)s?\s*$", re.I)
MOST = 10_000  # requests per window: a moving window keeps one entry per request
LONGEST = 86_400  # seconds: a day

# How long a process trusts the options it read before reading them again: a change made
# through this process is seen at once, one made through another worker within a second.
OPTIONS_TTL = 1.0


class TooManyRequests(SandboxError):
    """A client sent more requests than its limit allows: wait, then try again."""

    status = 429
    title = "Too many requests"


@dataclass(frozen=True)
class Options:
    """A workspace's limit: the rate, the strategy, and the epoch of its counters."""

    rate: str
    item: RateLimitItem
    strategy: str
    epoch: int


@dataclass(frozen=True)
class Verdict:
    """What the limiter decided for this request, for the headers and the record."""

    item: RateLimitItem
    allowed: bool
    remaining: int
    reset_in: int  # whole seconds until the window frees a place


def parse_rate(text: str) -> tuple[str, RateLimitItem]:
    """Return ``(the rate written the standard way, its limits item)``, or raise ValueError."""
    match = RATE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            'Write a rate as requests/window: "5/minute", "3/2second", "100/hour", "1000/day".'
        )
    amount, multiples, unit = int(match[1]), int(match[2] or 1), match[3].lower()
    rate = f"{amount}/{unit}" if multiples == 1 else f"{amount}/{multiples}{unit}"
    item = parse(rate)
    if not 1 <= amount <= MOST:
        raise ValueError(f"From 1 to {MOST:,} requests per window ({amount} asked).")
    if not 1 <= item.get_expiry() <= LONGEST:
        raise ValueError(f"A window from 1 second to 1 day ({multiples} {unit}s asked).")
    return rate, item


def describe(item: RateLimitItem) -> str:
    """Return a rate in words: "5 requests per minute", "3 requests per 2 seconds"."""
    unit = item.GRANULARITY.name
    window = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
    return f"{item.amount} request{'s' if item.amount != 1 else ''} per {window}"


class MemoryCounts(MemoryStorage):
    """limits' memory storage, without a thread started per request to drop expired counts.

    ``MemoryStorage`` starts a new thread (a ``threading.Timer``) for that whenever its
    last one has finished, so up to 100 threads a second under load: measured, most of
    what the module cost per request. Here no request starts one: the module's own thread
    sweeps once a second while the module is on (``start``/``stop``), and a count read
    after its window ends is dropped on the spot anyway (``MemoryStorage.get``).
    """

    # MemoryStorage calls self.__schedule_expiry(), which Python spells like this.
    def _MemoryStorage__schedule_expiry(self) -> None:
        pass

    def sweep(self) -> None:
        """Drop every count whose window has ended."""
        self._MemoryStorage__expire_events()


class Limits:
    """One app's limiter: the storage, a limiter per strategy, the options it read."""

    def __init__(self, storage_url: str | None, default_rate: str, default_strategy: str):
        url = storage_url or "memory://"
        try:
            self.storage = MemoryCounts() if url == "memory://" else storage_from_string(url)
        except ConfigurationError as error:
            raise ValueError(
                f"SANDBOX_RATELIMIT_STORAGE_URL={storage_url!r}: {error}. Leave it unset for "
                "this server's memory, or give redis://host:6379/0 (pip install redis)."
            ) from None
        self.backend = url.split("://", 1)[0]
        # Every strategy counts in the same storage; a workspace picks one.
        self.limiters: dict[str, RateLimiter] = {
            name: strategy(self.storage) for name, strategy in STRATEGIES.items()
        }
        try:
            self.default_rate, _ = parse_rate(default_rate)
        except ValueError as error:
            raise ValueError(f"SANDBOX_RATELIMIT_DEFAULT={default_rate!r}: {error}") from None
        if default_strategy not in STRATEGIES:
            raise ValueError(
                f"SANDBOX_RATELIMIT_STRATEGY={default_strategy!r} is not one of "
                f"{', '.join(STRATEGIES)}."
            )
        self.default_strategy = default_strategy
        self._options: dict[str, tuple[Options, float]] = {}
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Sweep expired counts from memory once a second, in a thread of our own."""
        if not isinstance(self.storage, MemoryCounts) or self._sweeper is not None:
            return  # Redis expires its keys itself
        self._stop.clear()
        self._sweeper = threading.Thread(target=self._sweep, name="ratelimit-sweeper", daemon=True)
        self._sweeper.start()

    def _sweep(self) -> None:
        while not self._stop.wait(1.0):
            self.storage.sweep()

    def stop(self) -> None:
        """Stop the sweeper (the module was switched off, or the app is going away)."""
        if self._sweeper is not None:
            self._stop.set()
            self._sweeper.join()
            self._sweeper = None

    def options(self, workspace: str) -> Options:
        """Return a workspace's options, read from its row at most every OPTIONS_TTL s."""
        with self._lock:
            kept = self._options.get(workspace)
        if kept is not None and time.monotonic() - kept[1] <= OPTIONS_TTL:
            return kept[0]
        conn = db.connect(db.database_path(), traced=False)  # not the learner's query
        try:
            row = conn.execute(
                "select rate, strategy, epoch from ratelimit_options where workspace = ?",
                [workspace],
            ).fetchone()
        finally:
            conn.close()
        rate, strategy, epoch = row if row is not None else (None, None, 0)
        rate, item = parse_rate(rate or self.default_rate)
        options = Options(rate, item, strategy or self.default_strategy, epoch)
        with self._lock:
            self._options[workspace] = (options, time.monotonic())
        return options

    def forget(self, workspace: str) -> None:
        """Read a workspace's options from the database next time (they changed)."""
        with self._lock:
            self._options.pop(workspace, None)


def init_app(app: Flask) -> None:
    """Make the app's limiter; a setting that is not a rate, strategy or storage stops the start."""
    app.extensions["sandbox.ratelimit"] = Limits(
        app.config["SANDBOX_RATELIMIT_STORAGE_URL"],
        app.config["SANDBOX_RATELIMIT_DEFAULT"],
        app.config["SANDBOX_RATELIMIT_STRATEGY"],
    )


def start(app: Flask) -> None:
    app.extensions["sandbox.ratelimit"].start()


def stop(app: Flask) -> None:
    app.extensions["sandbox.ratelimit"].stop()


def limits() -> Limits:
    return current_app.extensions["sandbox.ratelimit"]


def options() -> Options:
    """Return this workspace's options."""
    return limits().options(db.workspace())


def set_options(changes: dict[str, Any]) -> Options:
    """Change this workspace's rate or strategy (what is not named stays); return the options."""
    conn = db.get_db().conn
    with conn:
        conn.execute(
            "insert into ratelimit_options (workspace, rate, strategy) values (?, ?, ?) "
            "on conflict (workspace) do update set rate = coalesce(excluded.rate, rate), "
            "strategy = coalesce(excluded.strategy, strategy)",
            [db.workspace(), changes.get("limit"), changes.get("strategy")],
        )
    limits().forget(db.workspace())
    return options()


def reset(conn: Any, workspace: str) -> None:
    """Back to the default limit, with new counters: counts from before the reset are gone."""
    # Not a DELETE: the counters live in the storage (memory, Redis), out of this
    # transaction's reach. A new epoch puts every key of the workspace somewhere new.
    conn.execute(
        "insert into ratelimit_options (workspace, rate, strategy, epoch) "
        "values (?, null, null, ?) on conflict (workspace) do update set rate = null, "
        "strategy = null, epoch = excluded.epoch",
        [workspace, time.time_ns()],
    )


def forget(workspace: str) -> None:
    """After a reset: read the workspace's options (and new epoch) again."""
    limits().forget(workspace)


# --- who is asking, and the check itself ---


def who() -> tuple[str, str]:
    """Return whose count this request goes to: ``("user", "alice")`` or ``("address", ip)``."""
    try:
        identity = current_identity()
    except SandboxError:
        # A token that does not work: the route refuses it if it needs one (the playground's
        # /server/bearer does not). Meanwhile it is counted against its address.
        identity = None
    if identity is not None and not identity.is_guest:
        return "user", identity.username
    # Everyone is the same guest while nobody logs in: then clients are told apart by address.
    return "address", request.remote_addr or "unknown"


def check(record: Any) -> None:
    """Count this request against its client's limit; past the limit, answer 429."""
    if not request.path.startswith(LIMITED):
        return
    found = options()
    kind, name = who()
    workspace = db.workspace()
    key = f"{workspace}:{found.epoch}:{kind}:{name}"  # per workspace, then per client
    limiter = limits().limiters[found.strategy]
    allowed = limiter.hit(found.item, key)  # count it: one atomic step in the storage
    reset_at, remaining = limiter.get_window_stats(found.item, key)
    reset_in = max(0, math.ceil(reset_at - time.time()))
    if not allowed:
        reset_in = max(1, reset_in)  # "come back in 0 seconds" would be sent at once
    g.sandbox_ratelimit = verdict = Verdict(found.item, allowed, remaining, reset_in)
    data = {
        "limit": found.rate,
        "remaining": remaining,
        "reset_in": reset_in,
        "key": key,
        "who": name,
        "strategy": found.strategy,
        "counter": found.item.key_for(key),  # where the count lives in the storage
        "allowed": allowed,
    }
    rate = describe(found.item)
    if allowed:
        event(
            "ratelimit",
            f"{kind} {name}: within {rate}; {remaining} left, the window frees a place "
            f"in {reset_in} s",
            **data,
        )
        return
    event(
        "ratelimit",
        f"{kind} {name}: over {rate}: 429, come back in {reset_in} s",
        retry_after=reset_in,
        **data,
    )
    raise TooManyRequests(
        f"{'User ' + name if kind == 'user' else 'The address ' + name} sent more than {rate} "
        f"(this workspace's limit on {' and '.join(LIMITED)}). Wait {verdict.reset_in} s "
        "(the Retry-After header says so) and send it again. PATCH /ratelimit/settings "
        'changes the limit, e.g. {"limit": "100/minute"}.',
        headers={"Retry-After": str(verdict.reset_in)},
        limit=found.rate,
        retry_after=verdict.reset_in,
    )


def add_headers(record: Any, response: Response) -> Response:
    """Say the limit on every answer of a limited route: the IETF draft's RateLimit-* headers."""
    verdict = g.get("sandbox_ratelimit")
    if verdict is None:
        return response
    item = verdict.item
    response.headers["RateLimit-Limit"] = str(item.amount)
    response.headers["RateLimit-Remaining"] = str(verdict.remaining)
    response.headers["RateLimit-Reset"] = str(verdict.reset_in)  # seconds from now, not a date
    response.headers["RateLimit-Policy"] = f"{item.amount};w={item.get_expiry()}"
    if not verdict.allowed:
        response.headers["Retry-After"] = str(verdict.reset_in)
    return response
