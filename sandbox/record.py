"""The request record: what every layer did for one request.

Each request gets one :class:`Record`, opened before anything else runs and
closed after the response is built. While it is open it lives in a context
variable, so any code on the request's thread (a module hook, the database's
trace callback) can add to it without being handed it. Closed records go into
a bounded ring buffer and out on the live feed.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import queue
import secrets
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, json, request
from werkzeug.exceptions import RequestEntityTooLarge

from . import redact, shared_records, workspaces
from .shared_records import SharedRecords

_clock = time.perf_counter  # one global lookup instead of two per call: it runs often

_current: ContextVar[Record | None] = ContextVar("sandbox_record", default=None)

# A request that runs more statements than this keeps the first ones and a count of the rest.
SQL_KEPT = 200

# Record ids: a random prefix per process, then a counter. Unique, short, in order,
# and cheap: a random id per request would ask the OS for randomness on every request.
# Four random bytes: with several worker processes (--workers), each has its prefix, and
# two alike would make two records one.
_ID_PREFIX = secrets.token_hex(4)
_id_counter = itertools.count(1)  # next() on a count is atomic in CPython: thread-safe


# This process, named in its records when several serve.
_WORKER = os.getpid()


def _new_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):08x}"


@dataclass
class Record:
    """Everything the sandbox saw and did for one request."""

    id: str
    method: str
    path: str
    wall: float  # when it started, seconds since the epoch; shown as ISO 8601 in ``time``
    query: dict[str, Any] = field(default_factory=dict)
    module: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    sql: list[dict[str, Any]] = field(default_factory=list)
    sql_dropped: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    # The phases of the request (the gate, each module's hooks, the view, the response), each
    # {"name", "at_ms", "duration_ms"}: with the SQL's and events' at_ms, the waterfall.
    spans: list[dict[str, Any]] = field(default_factory=list)
    exception: dict[str, str] | None = None
    # Work done outside a request (a job) names the record of the request that caused it.
    parent: str | None = None
    # Which server thread did the work: a job's is not its request's.
    thread: str = field(default_factory=lambda: threading.current_thread().name)
    # Which process, when several serve (python app.py --workers 2): its process id.
    worker: int | None = None
    started: float = field(default_factory=time.perf_counter, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Return the record that :meth:`to_dict` (plus ``wall``) described."""
        data = dict(data)
        data.pop("time", None)
        return cls(**data)

    def now_ms(self) -> float:
        """Return the milliseconds since the request started: where on its waterfall we are."""
        # Whole microseconds, then ms: 3 decimals as round() gives, at a third of its cost
        # (this runs for every span, statement and event).
        return int((_clock() - self.started) * 1_000_000) / 1000

    def event(self, module: str, message: str, **data: Any) -> None:
        """Note what a module decided, e.g. ``record.event("auth", "user alice allowed")``."""
        self.events.append({"module": module, "message": message, **data, "at_ms": self.now_ms()})

    def add_sql(
        self,
        sql: str,
        params: Any = None,
        duration_ms: float | None = None,
        at_ms: float | None = None,
    ) -> None:
        """Keep one SQL statement, up to :data:`SQL_KEPT` of them.

        ``at_ms``, when it started, defaults to now less its duration: a statement is
        usually kept just after it ran.
        """
        if len(self.sql) >= SQL_KEPT:
            self.sql_dropped += 1
            return
        if at_ms is None:
            at_ms = max(int((self.now_ms() - (duration_ms or 0)) * 1000) / 1000, 0)
        self.sql.append({"sql": sql, "params": params, "duration_ms": duration_ms, "at_ms": at_ms})

    def start_span(self, name: str) -> dict[str, Any]:
        """Open a phase of the request (``"view"``, ``"auth: before"``); end it with end_span.

        Two calls and a small dict, not a context manager: they run several times on every
        request, so they cost about a microsecond, not more.
        """
        # now_ms() written out: one method call less, on a path every request takes.
        at = int((_clock() - self.started) * 1_000_000) / 1000
        span = {"name": name, "at_ms": at, "duration_ms": None}
        self.spans.append(span)
        return span

    def end_span(self, span: dict[str, Any]) -> None:
        """Close a phase opened by start_span: its duration is now less its start."""
        now = int((_clock() - self.started) * 1_000_000)
        start = int(span["at_ms"] * 1000 + 0.5)  # + 0.5: 6.465 * 1000 is 6464.99...
        span["duration_ms"] = (now - start) / 1000

    def set_exception(self, error: BaseException) -> None:
        """Keep an exception and its traceback, for the inspector."""
        self.exception = {
            "type": type(error).__name__,
            "message": str(error),
            "traceback": "".join(traceback.format_exception(error)),
        }

    @property
    def time(self) -> str:
        """Return when the request started, as ISO 8601 in UTC."""
        return _iso(self.wall)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready data."""
        data = {"id": self.id, "method": self.method, "path": self.path, "time": self.time}
        data.update(
            (k, v)
            for k, v in self.__dict__.items()
            if k not in ("id", "method", "path", "wall", "started")
        )
        if not self.sql_dropped:
            del data["sql_dropped"]
        return data

    def summary(self) -> dict[str, Any]:
        """Return the few fields a list or a live feed shows."""
        return {
            "id": self.id,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "module": self.module,
            "duration_ms": self.duration_ms,
            "sql_count": len(self.sql) + self.sql_dropped,
            "event_count": len(self.events),
            "parent": self.parent,
        }


@functools.lru_cache(maxsize=256)
def _iso(wall: float) -> str:
    # Remembered: the live feed, the record list and the record itself each ask for the
    # same record's time, and formatting a datetime costs more than the rest of a summary.
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds")


def current_record() -> Record | None:
    """Return the record of the request being handled on this thread, if any."""
    return _current.get()


def event(module: str, message: str, **data: Any) -> None:
    """Add an event to the current record; a no-op outside a recorded request."""
    record = _current.get()
    if record is not None:
        record.event(module, message, **data)


def sse(sequence: int, kind: str, data: dict[str, Any]) -> str:
    """Return one Server-Sent Event: its id (for Last-Event-ID), its kind, its JSON data."""
    return f"id: {sequence}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"


class Message:
    """One live-feed message, written as a Server-Sent Event the first time it is needed.

    Most messages are never read (nobody has the page open): encoding each one on every
    request would be work for nobody. Once read, the text is kept, so many open tabs
    share one encoding. (Two threads may both encode a message the first time: the same
    text, so nothing is lost but a little time.)
    """

    __slots__ = ("id", "kind", "_data", "_text")

    def __init__(self, id: int, kind: str, data: dict[str, Any] | None = None, json_text: str = ""):
        # From the shared file (sandbox/shared_records.py) a message comes as JSON text: sent
        # on as it is, read only if something asks for its data.
        self.id, self.kind, self._data = id, kind, data
        self._text = f"id: {id}\nevent: {kind}\ndata: {json_text}\n\n" if json_text else None

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json.loads(self.text.partition("\ndata: ")[2])
        return self._data

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = sse(self.id, self.kind, self._data)
        return self._text


class RecordBuffer:
    """The last N records of one workspace, newest last, plus the subscribers of its live feed.

    Bounded: when it is full the oldest record is dropped, so memory does not grow
    with the number of requests. With several worker processes (``--workers``), what
    it holds is written to and pulled from the records file they share
    (sandbox/shared_records.py); one process keeps it in memory only.
    """

    # How many live-feed messages are kept for a feed that reconnects (see subscribe).
    BACKLOG = 200

    def __init__(self, limit: int, workspace: str = "local", shared: SharedRecords | None = None):
        self.limit, self.workspace, self.shared = limit, workspace, shared
        # Shared (--workers): another worker's record is kept as JSON text until read.
        self._records: OrderedDict[str, Record | str] = OrderedDict()
        self._lock = threading.Lock()
        self._subscribers: list[queue.Queue] = []
        self._sequence = 0  # the id of the last message
        self._complete_since = 0  # every message after this id is in the backlog
        self._record_seq = 0  # shared: the number of the last record pulled
        self._seq_of: dict[str, int] = {}  # shared: each record's number
        self._backlog: deque[Message] = deque(maxlen=self.BACKLOG)
        # The kept records that answered 500 or above, counted as records come and go (the
        # landing page shows the count on every visit; walking 500 records each time was a
        # fifth of its time). Another worker's record is counted when first asked for.
        self._errors: set[str] = set()
        self._uncounted: set[str] = set()
        if shared is not None:
            records, messages, self._complete_since = shared.history(workspace, self.BACKLOG)
            self._sequence = self._complete_since
            for seq, record_id, json_text in records:
                self.apply_record(seq, record_id, json_text)
            for seq, kind, data in messages:
                self.apply_message(seq, kind, data)

    def add(self, record: Record) -> None:
        """Keep a finished record and send it to the live feed."""
        # Announced even with nobody watching: a feed that reconnects asks for what it missed.
        if self.shared is not None:
            seq = self.shared.write_record(self.workspace, record)  # and its "trace" message
            self._keep(record, record.id, seq)  # readable here at once, without reading it back
            if self._subscribers:  # a feed open here shows it at once (else within 0.1 s)
                self.shared.pull()
            return
        self._keep(record, record.id)
        self.publish("trace", record.summary())

    def _keep(self, record: Record | str, record_id: str, seq: int = 0) -> None:
        with self._lock:
            self._records[record_id] = record
            if isinstance(record, str):
                self._uncounted.add(record_id)
            elif (record.status or 0) >= 500:
                self._errors.add(record_id)
            if self.shared is not None:
                self._seq_of[record_id] = seq
            while len(self._records) > self.limit:
                dropped, _ = self._records.popitem(last=False)
                self._forget(dropped)

    def _forget(self, record_id: str) -> None:
        """Forget what was kept beside a record that is gone (the caller holds the lock)."""
        self._seq_of.pop(record_id, None)
        self._errors.discard(record_id)
        self._uncounted.discard(record_id)

    def get(self, record_id: str) -> Record | None:
        """Return one record by id."""
        if self.shared is not None:
            self.shared.pull()  # perhaps another worker's, written (or forgotten) a moment ago
        record = self._records.get(record_id)
        return self._read(record_id, record) if isinstance(record, str) else record

    def _read(self, record_id: str, json_text: str) -> Record:
        record = Record.from_dict(json.loads(json_text))
        with self._lock:
            if record_id in self._records:
                self._records[record_id] = record  # read once
        return record

    def server_errors(self) -> int:
        """Return how many kept records answered with a status of 500 or above."""
        if self.shared is not None:
            self.shared.pull()
        with self._lock:
            uncounted = [(i, self._records[i]) for i in self._uncounted]
            self._uncounted.clear()
        for record_id, record in uncounted:
            if isinstance(record, str):
                record = self._read(record_id, record)
            if (record.status or 0) >= 500:
                with self._lock:
                    if record_id in self._records:  # not dropped meanwhile
                        self._errors.add(record_id)
        return len(self._errors)

    def recent(self, limit: int | None = None) -> list[Record]:
        """Return records newest first (only the newest ``limit``: checks run on every request)."""
        if self.shared is not None:
            self.shared.pull()
        with self._lock:
            found = list(itertools.islice(reversed(self._records.items()), limit))
        return [self._read(i, r) if isinstance(r, str) else r for i, r in found]

    def clear(self) -> None:
        """Forget every record."""
        if self.shared is not None:
            self.shared.clear(self.workspace)
            self.shared.pull()
            return
        with self._lock:
            self._records.clear()
            self._errors.clear()
            self._uncounted.clear()

    def __len__(self) -> int:
        if self.shared is not None:
            self.shared.pull()
        return len(self._records)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Send a message to every live-feed subscriber, and keep it for a while."""
        if self.shared is not None:
            # Numbered by the shared file, delivered by the pull: in the same order in
            # every worker.
            self.shared.write_message(self.workspace, kind, data)
            if self._subscribers:  # a feed open here shows it at once (else in 0.1 s)
                self.shared.pull()
            return
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
        self._deliver(Message(sequence, kind, data))

    def apply_record(self, seq: int, record_id: str, json_text: str) -> None:
        """Keep a record pulled from the shared file (each once, in order)."""
        with self._lock:
            if seq <= self._record_seq:
                return
            self._record_seq = seq
            if record_id in self._records:  # this worker's own
                return
        self._keep(json_text, record_id, seq)

    def apply_message(self, seq: int, kind: str, json_text: str) -> None:
        """Deliver a message pulled from the shared file (each once, in order)."""
        message = Message(seq, kind, json_text=json_text)
        with self._lock:
            if seq <= self._sequence:
                return
            self._sequence = seq
            if kind == shared_records.CLEARED:  # a worker forgot the records before this
                for record_id, record_seq in list(self._seq_of.items()):
                    if record_seq < seq:
                        del self._records[record_id]
                        self._forget(record_id)
                return
        self._deliver(message)

    def _deliver(self, message: Message) -> None:
        with self._lock:
            if len(self._backlog) == self._backlog.maxlen:
                self._complete_since = self._backlog[0].id
            self._backlog.append(message)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            # A reader that stopped reading must not slow the server: drop its messages.
            with contextlib.suppress(queue.Full):
                subscriber.put_nowait(message)

    def subscribe(self, after: int | None = None) -> tuple[queue.Queue, int]:
        """Start receiving live-feed messages; with ``after``, first every one since it.

        A browser's EventSource reconnects with the last id it saw (``Last-Event-ID``), so
        what happened while it was away comes first. When the messages after ``after``
        are no longer all kept (too many, or another run of the server numbered them), a
        ``missed`` message says so instead: the page reloads what it shows. Also returns
        the id the feed starts from, so a client that reconnects before any message
        came still says where it was.
        """
        if self.shared is not None:
            self.shared.pull()
        subscriber: queue.Queue = queue.Queue(maxsize=1000)
        with self._lock:
            start = self._sequence
            if after is not None and after != self._sequence:
                if self._complete_since <= after < self._sequence:
                    start = after
                    for message in self._backlog:
                        if message.id > after:
                            subscriber.put_nowait(message)
                else:
                    subscriber.put_nowait(Message(self._sequence, "missed", {"after": after}))
            self._subscribers.append(subscriber)
        if self.shared is not None:
            self.shared.watch()  # other workers' messages, ten times a second
        return subscriber, start

    def unsubscribe(self, subscriber: queue.Queue) -> None:
        """Stop receiving live-feed messages."""
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

    def has_subscribers(self) -> bool:
        """Return whether a live feed of this workspace is open in this process."""
        return bool(self._subscribers)


def records() -> RecordBuffer:
    """Return the record buffer of this request's workspace (each has its own, and its feed)."""
    return current_app.extensions["sandbox.records"].get(workspaces.current())


def all_buffers() -> dict[str, RecordBuffer]:
    """Return the record buffer of every workspace that has records (a class's dashboard).

    With several workers, a workspace may have records only another worker made: its
    buffer here is made (and filled from the shared file) first.
    """
    buffers = current_app.extensions["sandbox.records"]
    shared = buffers.get(current_app.config["SANDBOX_WORKSPACE"]).shared
    if shared is not None:
        for workspace in shared.workspaces():
            buffers.get(workspace)
        shared.pull()
    return dict(buffers.items())


def on_close(app: Flask, listener: Callable[[Record, RecordBuffer], None]) -> None:
    """Call ``listener(record, buffer)`` for every record, just before it is kept."""
    app.extensions["sandbox.record_listeners"].append(listener)


def _open() -> None:
    req = request._get_current_object()  # one context lookup, not one per attribute
    config = current_app.config
    # Reading records must not make records, or every look would flood the buffer.
    if not config["SANDBOX_RECORDS"] or req.path.startswith(
        ("/sandbox/traces", "/sandbox/compare")
    ):
        return
    record = Record(
        id=_new_id(),
        method=req.method,
        path=redact.path(req.path, req.view_args),
        wall=time.time(),
        query=redact.query(list(req.args.items(multi=True))) if req.query_string else {},
        request={
            "headers": redact.headers(req.headers.items()),
            "body": None,
            "remote_addr": req.remote_addr,
        },
        worker=_WORKER if config["SANDBOX_WORKERS"] > 1 else None,
    )
    g.sandbox_record = record
    g.sandbox_record_token = _current.set(record)
    if not req.content_length and "HTTP_TRANSFER_ENCODING" not in req.environ:
        return  # no body to read (a GET, say)
    try:
        data = req.get_data(cache=True)  # cached: the view can still read the body or form
    except RequestEntityTooLarge:
        record.request["body"] = f"<{req.content_length} bytes: over the limit, not read>"
        raise
    record.request["body"] = redact.body(data, req.content_type, config["SANDBOX_BODY_EXCERPT"])


def _after(response: Response) -> Response:
    record = g.get("sandbox_record")
    if record is not None:
        # This hook runs last of the after hooks (Flask runs them newest first): from here to
        # the record's close is the response's own time (headers, teardown).
        record.start_span("response")
        response.headers["X-Sandbox-Trace"] = record.id
        record.status = response.status_code
        record.response = {
            "headers": redact.headers(response.headers.items()),
            # None for a streamed body: its size is not known until it has been sent (and
            # asking would make werkzeug read the whole stream first).
            "size": None if response.is_streamed else response.calculate_content_length(),
        }
    return response


def _close(error: BaseException | None) -> None:
    record = g.pop("sandbox_record", None)
    if record is None:
        return
    _current.reset(g.pop("sandbox_record_token"))
    if error is not None and record.exception is None:
        record.set_exception(error)
    _keep(current_app._get_current_object(), record, workspaces.current())


def _keep(app: Flask, record: Record, workspace: str) -> None:
    """Finish a record: its duration, the listeners (challenge checks), the buffer and feed."""
    record.duration_ms = record.now_ms()
    for span in record.spans:
        if span["duration_ms"] is None:  # left open by an error, or the response: ends here
            span["duration_ms"] = int((record.duration_ms - span["at_ms"]) * 1000) / 1000
    buffer = app.extensions["sandbox.records"].get(workspace)
    for listener in app.extensions["sandbox.record_listeners"]:
        listener(record, buffer)
    buffer.add(record)


@contextlib.contextmanager
def outside_request(
    app: Flask, workspace: str, kind: str, what: str, parent: str | None = None
) -> Iterator[Record]:
    """Record work done outside a request (a job, a scheduled task) like a request.

    ``kind`` takes the place of the method (``"JOB"``), ``what`` of the path. Inside the
    block the record is the current one, so the SQL the work runs and the events it adds
    land in it; the workspace is ``workspace``; and ``parent``, the id of the request that
    caused the work, links the two in the inspector and the live feed. An exception is
    kept in the record, then raised again for the caller (the job queue retries it).
    """
    record = Record(
        id=_new_id(),
        method=kind,
        path=what,
        wall=time.time(),
        parent=parent,
        # The same shape as a request's record, so whatever reads records reads this one.
        request={"headers": {}, "body": None, "remote_addr": None},
        response={"headers": {}, "size": None},
        worker=_WORKER if app.config["SANDBOX_WORKERS"] > 1 else None,
    )
    with app.app_context(), workspaces.using(workspace):
        token = _current.set(record)
        try:
            yield record
            record.status = 200
        except BaseException as error:
            record.set_exception(error)
            record.status = 500
            raise
        finally:
            _current.reset(token)
            _keep(app, record, workspace)


def init_app(app: Flask) -> None:
    """Open a record before every request and keep it when the request ends."""
    limit = app.config["SANDBOX_TRACE_LIMIT"]
    shared = None
    if app.config["SANDBOX_WORKERS"] > 1:  # several processes: records in a file they share
        shared = SharedRecords(Path(app.instance_path) / "records.db", limit)
    buffers = workspaces.PerWorkspace(lambda ws: RecordBuffer(limit, ws, shared))
    if shared is not None:
        shared.follow(buffers)
    app.extensions["sandbox.records"] = buffers
    app.extensions["sandbox.record_listeners"] = []
    app.before_request(_open)
    app.after_request(_after)
    app.teardown_request(_close)
    _time_the_view(app)


def _time_the_view(app: Flask) -> None:
    """Time the view itself, as the record's "view" span.

    Flask runs the before-request hooks, then ``dispatch_request`` (the view), then the
    after-request hooks; wrapping dispatch_request times the view and nothing else.
    """
    dispatch = app.dispatch_request

    def timed_dispatch() -> Any:
        record = _current.get()
        if record is None:
            return dispatch()
        span = record.start_span("view")
        try:
            return dispatch()
        finally:
            record.end_span(span)

    app.dispatch_request = timed_dispatch  # type: ignore[method-assign]


# How long a live feed gathers messages before it writes them: a quarter of a second, which
# a person watching barely notices; 300 open tabs under a burst of requests kept the
# server's p99 at 83 ms instead of 163 (python tests/bench/bench_feeds.py 400).
GATHER_SECONDS = 0.25


def stream(
    buffer: RecordBuffer,
    seconds: float,
    gone: Callable[[], bool] = lambda: False,
    after: int | None = None,
) -> Iterator[str]:
    """Yield Server-Sent Events for ``seconds``, then end so the browser reconnects.

    Ending now and then keeps a server thread from being held forever by an open
    tab; EventSource reconnects by itself after ``retry`` milliseconds. A tab that
    closes frees the thread within a second: ``gone()`` asks the server whether the
    client is still there. ``after`` is the last message id the client saw: what came
    since is sent first (see RecordBuffer.subscribe).
    """
    subscriber, start = buffer.subscribe(after)
    try:
        # The id sets the browser's Last-Event-ID even before any message arrives: a feed
        # that ends quiet and reconnects still gets what happened in between.
        yield f"retry: 1000\nid: {start}\n\n"
        deadline = time.monotonic() + seconds
        quiet_since = time.monotonic()
        while (left := deadline - time.monotonic()) > 0 and not gone():
            try:
                text = subscriber.get(timeout=min(left, 1)).text
            except queue.Empty:
                if time.monotonic() - quiet_since >= 15:
                    # A comment line: keeps proxies from closing a quiet stream, and a write
                    # to a closed connection fails, which ends this loop under any server.
                    quiet_since = time.monotonic()
                    yield ": keep-alive\n\n"
                continue
            # Whatever else arrives within a moment goes out with it, in one write: under a
            # burst of requests each open tab wakes a few times a second, not once per
            # request (300 open tabs woke 300 threads for every request, and the server
            # spent its time writing to them).
            gather_until = time.monotonic() + GATHER_SECONDS
            texts = [text]
            while (wait := gather_until - time.monotonic()) > 0:
                try:
                    texts.append(subscriber.get(timeout=wait).text)
                except queue.Empty:
                    break
            quiet_since = time.monotonic()
            yield "".join(texts)
    finally:
        buffer.unsubscribe(subscriber)
