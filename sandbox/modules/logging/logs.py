"""Structured logs: one JSON object per event, each carrying the id of its request's record.

Python's standard ``logging`` does the work (no extra library: it is what every Python
library already logs to, so the lesson carries over to any project). The sandbox's
loggers are named ``sandbox.logs.<module>``; one :class:`Handler` at the top of that
tree turns each log record into a JSON line and

* stamps it with the record id of the request (or job) it happened in, so a log line
  leads to its record, and adds it to that record as an event, so the record lists it;
* drops it if it is below the level the workspace chose for that module (levels are
  per workspace, so a class's students never change each other's);
* redacts secrets by the same rules as records (sandbox/redact.py);
* keeps it in the workspace's buffer (the viewer reads it) and writes it to the log
  file, if ``SANDBOX_LOG_FILE`` names one (rotated by size). With several worker
  processes, every worker's lines reach every worker's buffers through a file they
  share (shared.py), and each line names its ``worker``.

Switched off, the module still keeps one plain line per request, print-style: no time,
no level, no record id. That is the "before": try finding anything in it.
"""

from __future__ import annotations

import itertools
import json
import linecache
import logging
import threading
import time
import weakref
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from concurrent_log_handler import ConcurrentRotatingFileHandler
from flask import Flask, current_app, has_app_context

from sandbox import db, redact, workspaces
from sandbox.record import Record, current_record

from .shared import SharedLines

ROOT = "sandbox.logs"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
EVERY_MODULE = "*"
CONTEXT_LINES = 2  # source lines shown above and below each line of a traceback
LEVELS_TTL = 0.5  # seconds a process trusts its copy of a workspace's levels


def logger(module: str) -> logging.Logger:
    """Return the logger of a module: ``logger("notes").info("note 3 read")``."""
    return logging.getLogger(f"{ROOT}.{module}")


class Buffer:
    """The last lines of one workspace, newest last, numbered for the live tail."""

    def __init__(self, limit: int):
        self.lines: deque[dict[str, Any]] = deque(maxlen=limit)
        self._lock = threading.Lock()

    def add(self, line: dict[str, Any]) -> None:
        with self._lock:
            self.lines.append(line)

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.lines)

    def clear(self) -> None:
        with self._lock:
            self.lines.clear()


# One numbering for every workspace: ``after=`` just works. (Several workers: the file they
# share numbers the lines instead, see shared.py.)
_sequence = itertools.count(1)


def buffer(app: Flask | None = None, workspace: str | None = None) -> Buffer:
    """Return the log buffer of a workspace (this request's by default)."""
    app = app or current_app
    return app.extensions["sandbox.logs"].get(workspace or workspaces.current())


def read(app: Flask | None = None, workspace: str | None = None) -> list[dict[str, Any]]:
    """Return a workspace's kept lines, oldest first: every worker's, when several serve."""
    app = app or current_app
    shared = app.extensions.get("sandbox.log_lines")
    if shared is not None:
        shared.pull()  # the lines the other workers wrote since this one last looked
    return buffer(app, workspace).snapshot()


def forget(app: Flask | None = None, workspace: str | None = None) -> None:
    """Forget a workspace's lines (a reset), in every worker."""
    app = app or current_app
    workspace = workspace or workspaces.current()
    shared = app.extensions.get("sandbox.log_lines")
    if shared is not None:
        shared.clear(workspace)
    buffer(app, workspace).clear()


# --- levels: per workspace and module, stored in the module's table ---


class Levels:
    """Each workspace's level per module, read from the database at most every LEVELS_TTL."""

    def __init__(self, default: str):
        self.default = default
        self._kept: dict[str, tuple[dict[str, str], float]] = {}
        self._lock = threading.Lock()

    def of(self, workspace: str) -> dict[str, str]:
        """Return ``{module: level}`` for a workspace; ``"*"`` is every other module's."""
        with self._lock:
            kept, read_at = self._kept.get(workspace, (None, 0.0))
        if kept is not None and time.monotonic() - read_at <= LEVELS_TTL:
            return kept
        conn = db.connect(db.database_path(), traced=False)  # bookkeeping, not the request's
        try:
            rows = conn.execute(
                "select module, level from logging_levels where workspace = ?", (workspace,)
            ).fetchall()
        finally:
            conn.close()
        kept = {EVERY_MODULE: self.default, **{m: lvl for m, lvl in rows}}
        with self._lock:
            self._kept[workspace] = (kept, time.monotonic())
        return kept

    def level(self, workspace: str, module: str) -> int:
        """Return the lowest level (a number) kept for a module's lines in a workspace."""
        kept = self.of(workspace)
        return logging.getLevelName(kept.get(module, kept[EVERY_MODULE]))

    def forget(self) -> None:
        with self._lock:
            self._kept.clear()


def levels(app: Flask | None = None) -> Levels:
    return (app or current_app).extensions["sandbox.log_levels"]


# --- error tracking: a traceback with the source around each line ---


def frames(tb: TracebackType | None) -> list[dict[str, Any]]:
    """Return each frame of a traceback with the source lines around the line that ran."""
    out = []
    while tb is not None:
        code, lineno = tb.tb_frame.f_code, tb.tb_lineno
        lines = range(max(1, lineno - CONTEXT_LINES), lineno + CONTEXT_LINES + 1)
        source = [
            {
                "line": n,
                "text": linecache.getline(code.co_filename, n).rstrip(),
                "here": n == lineno,
            }
            for n in lines
            if linecache.getline(code.co_filename, n)
        ]
        out.append(
            {"file": code.co_filename, "line": lineno, "function": code.co_name, "source": source}
        )
        tb = tb.tb_next
    return out


def exception_info(error: BaseException) -> dict[str, Any]:
    """Return an exception the way log lines and records show it: type, message, frames."""
    return {
        "type": type(error).__name__,
        "message": str(error),
        "frames": frames(error.__traceback__),
    }


# --- the handler ---


class Handler(logging.Handler):
    """Turn every log record of the sandbox's loggers into a JSON line, kept and written."""

    def emit(self, log: logging.LogRecord) -> None:
        if not has_app_context() or "sandbox.logs" not in current_app.extensions:
            return  # a log call outside any sandbox (an import, a test of its own)
        try:
            app = current_app._get_current_object()
            workspace = workspaces.current()
            module = log.name[len(ROOT) + 1 :] or "sandbox"
            if log.levelno < levels(app).level(workspace, module):
                return
            record = getattr(log, "record", None) or current_record()
            line = to_line(log, module, record.id if record else None, workspace)
            keep(app, workspace, line)
            attach = getattr(log, "attach", True)
            if isinstance(attach, dict):  # the line of a record's event: the event names it
                attach["log_seq"] = line["seq"]
            elif record is not None and attach:
                # The record lists its log lines: each is an event of the logging module.
                record.event("logging", line["message"], level=line["level"], log_seq=line["seq"])
        except Exception:  # a log line must never break the request that writes it
            self.handleError(log)


# Attributes every LogRecord has: what is not among them came in ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "record", "attach"}
_STANDARD |= {"fields"}


def to_line(
    log: logging.LogRecord, module: str, record_id: str | None, workspace: str
) -> dict[str, Any]:
    """Return the JSON-ready line of a log record, secrets redacted."""
    message = log.getMessage()
    line: dict[str, Any] = {
        "seq": next(_sequence),
        "time": datetime.fromtimestamp(log.created, timezone.utc).isoformat(
            timespec="milliseconds"
        ),
        "level": log.levelname,
        "module": module,
        "message": _redacted(message),
        "record_id": record_id,
        "workspace": workspace,
    }
    extra = {k: v for k, v in vars(log).items() if k not in _STANDARD}
    extra.update(getattr(log, "fields", None) or {})
    if extra:
        line["data"] = redact.fields(extra)
    if log.exc_info and log.exc_info[1] is not None:
        line["exception"] = exception_info(log.exc_info[1])
    return line


def _redacted(message: str) -> str:
    # The records' rules for free text, run only on a message that names a secret at all:
    # most lines do not, and a log line is written for every event.
    if not redact.SECRET_NAME.search(message):
        return message
    return redact.body(message.encode(), "text/plain", redact.KEPT) or message


def wants(module: str, level: int) -> bool:
    """Return whether this workspace keeps a module's lines at ``level`` (skip the work if not)."""
    return level >= levels().level(workspaces.current(), module)


def keep(app: Flask, workspace: str, line: dict[str, Any]) -> None:
    """Keep a line in the workspace's buffer and write it to the log file, if there is one."""
    shared = app.extensions.get("sandbox.log_lines")
    if shared is not None:  # several workers: into the file they share (numbered there)
        shared.write(workspace, line)
    else:
        buffer(app, workspace).add(line)
    file = app.extensions.get("sandbox.log_file")
    if file is not None:
        text = line.get("plain") or json.dumps(line, ensure_ascii=False, default=str)
        file.emit(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))


# --- what every record becomes: lines for its events, its request and its error ---


def _level_of(record: Record) -> int:
    if record.exception is not None or (record.status or 0) >= 500:
        return logging.ERROR
    return logging.WARNING if (record.status or 0) >= 400 else logging.INFO


def structured(record: Record) -> None:
    """Write the log lines of a finished record: one per event, one for the request."""
    for e in list(record.events):
        if e.get("module") == "logging":
            continue  # already a log line (a line the record lists)
        data = {k: v for k, v in e.items() if k not in ("module", "message")}
        # In one "fields" attribute: an event's data may use a name a LogRecord has already
        # (thread, name, args...), and logging refuses to overwrite those.
        logger(e.get("module") or "sandbox").info(
            e["message"], extra={"fields": data, "record": record, "attach": e}
        )
    what = f"{record.method} {record.path} -> {record.status}"
    fields = {
        "method": record.method,
        "path": record.path,
        "status": record.status,
        "duration_ms": round((time.perf_counter() - record.started) * 1000, 3),
        "sql_count": len(record.sql) + record.sql_dropped,
    }
    if record.parent:
        fields["parent"] = record.parent
    if record.exception is not None:
        tracked = next((e for e in record.events if e.get("tracked")), None)
        fields["error"] = record.exception["type"] + ": " + record.exception["message"]
        if tracked is None:  # no frames kept (a job's error): the text of the traceback
            fields["traceback"] = record.exception["traceback"]
    extra = {"fields": fields, "record": record}
    logger(record.module or "sandbox").log(_level_of(record), what, extra=extra)


def plain(app: Flask, workspace: str, record: Record) -> None:
    """Keep the print-style line of a record: what logging looks like without structure."""
    words = [record.method, record.path, str(record.status)]
    for e in record.events:
        words.append(e["message"])
    keep(app, workspace, {"seq": next(_sequence), "plain": " ".join(words)})


def track(record: Record | None, error: BaseException) -> None:
    """Keep an unhandled exception's frames (with their source lines) in its record."""
    if record is not None and not any(e.get("tracked") for e in record.events):
        info = exception_info(error)
        logger(record.module or "sandbox").error(
            f"unhandled {info['type']}: {info['message']}",
            extra={"record": record, "attach": False},
            exc_info=error,
        )
        record.event(
            "logging", f"unhandled {info['type']}: {info['message']}", tracked=True, error=info
        )


def install(app: Flask) -> None:
    """Give the app its buffers, levels and log file, and the loggers their handler (once)."""
    limit = app.config["SANDBOX_LOG_LIMIT"]
    buffers = workspaces.PerWorkspace(lambda _: Buffer(limit))
    app.extensions["sandbox.logs"] = buffers
    if app.config["SANDBOX_WORKERS"] > 1:  # several processes: lines in a file they share
        shared = SharedLines(Path(app.instance_path) / "logs.db", buffers)
        app.extensions["sandbox.log_lines"] = shared
        weakref.finalize(app, shared.close)
    app.extensions["sandbox.log_levels"] = Levels(_checked_level(app.config["SANDBOX_LOG_LEVEL"]))
    path = app.config.get("SANDBOX_LOG_FILE")
    if path:
        # Rotation: once it reaches SANDBOX_LOG_FILE_BYTES (passing it by one line at most),
        # the file becomes <name>.1 (and .1 becomes .2...): a log that runs for months never
        # fills the disk.
        # Not the standard library's RotatingFileHandler: with --workers N, N processes write
        # this one file, and that handler rotates from each of them unaware of the others (one
        # renames the file while another still writes to it: lines land in the old file or are
        # lost). This one takes a lock file beside the log (portalocker: the operating system's
        # own file lock, on Windows, macOS and Linux) around each write and each rotation, and
        # reopens the file when another process rotated it. Same arguments, same files.
        file = ConcurrentRotatingFileHandler(
            path,
            maxBytes=int(app.config["SANDBOX_LOG_FILE_BYTES"]),
            backupCount=int(app.config["SANDBOX_LOG_FILE_KEEP"]),
            encoding="utf-8",
        )
        app.extensions["sandbox.log_file"] = file
        weakref.finalize(app, file.close)  # closed when the app goes away
    root = logging.getLogger(ROOT)
    root.setLevel(logging.DEBUG)  # every line reaches the handler, which applies the levels
    root.propagate = False  # not also to the terminal through the root logger
    if not any(isinstance(h, Handler) for h in root.handlers):
        root.addHandler(Handler())


def _checked_level(name: Any) -> str:
    level = str(name).upper()
    if level not in LEVELS:
        raise ValueError(f"SANDBOX_LOG_LEVEL must be one of {', '.join(LEVELS)} (not {name!r}).")
    return level
