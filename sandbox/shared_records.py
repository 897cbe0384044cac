"""Records and the live feed shared by every worker process (``python app.py --workers 2``).

One process keeps its records in memory (sandbox/record.py). Several processes cannot:
a learner's request may land on any of them, so the record their next request asks for,
the earlier request a challenge looks back at, and the live feed's messages must be
readable through every one. So each process writes what it records into one SQLite file
in the data dir, ``records.db``, and reads what the others wrote:

- ``records``: every finished record as JSON, numbered in the order they were written;
- ``feed``: every live-feed message, numbered the same way. That number is the
  ``id:`` of the Server-Sent Event, so a browser that reconnects to *another* worker
  with ``Last-Event-ID`` still gets exactly what it missed.

Each process keeps its in-memory buffers (the same :class:`~sandbox.record.RecordBuffer`)
and *pulls* the rows written since it last looked: before it answers from them, and ten
times a second while one of its live feeds is open. SQLite writes one transaction at a
time, so numbers are committed in order: whoever sees row 11 has seen row 10.

A file of its own, not the notes' database: every request writes one row here, and SQLite
lets one writer at a time into a file. Nothing here is precious (what happened lately, not
the learner's data), so it is written without waiting for the disk (``synchronous=OFF``):
a power cut may lose the last few records, never the notes.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .json_provider import dumps_compact  # orjson: 6 µs for a record, not 52

if TYPE_CHECKING:
    from .record import Record, RecordBuffer
    from .workspaces import PerWorkspace

# One table, no index, no AUTOINCREMENT: each of those costs a write per insert, and every
# request inserts one row (a record and its live-feed message together). Rows are only ever
# deleted from the old end, so a new row's number is always above every number a worker
# has seen. A workspace's history is read by a scan, once per worker, when it first serves
# that workspace.
SCHEMA = """
create table if not exists log (
    seq integer primary key,
    workspace text not null,
    kind text not null,  -- the live-feed message: trace, challenge, ...
    data text not null,  -- its JSON
    record_id text,  -- a trace message's record, in full
    record text
);
"""

# Rows kept, all workspaces together: a few minutes of a busy class, hours of one learner.
# (Each worker keeps a workspace's newest SANDBOX_TRACE_LIMIT records in memory.)
KEPT = 20_000
# How often a process trims the file: every this many rows it wrote.
TRIM_EVERY = 200
# How often a process with an open live feed looks for other workers' messages.
POLL_SECONDS = 0.1
# A message that is not for the browser: the records before it are forgotten.
CLEARED = "records-cleared"


def open_shared(path: Path, schema: str) -> sqlite3.Connection:
    """Open a file that every worker process writes and reads (records, log lines).

    Autocommit (each insert its own transaction), WAL (readers never wait for the writer),
    and no waiting for the disk (what happened lately, not the learner's data).
    """
    conn = sqlite3.connect(path, timeout=10, check_same_thread=False)
    conn.isolation_level = None
    conn.execute("pragma journal_mode = wal")
    conn.execute("pragma synchronous = off")
    conn.executescript(schema)
    return conn


class SharedRecords:
    """The records.db of one data dir, as one process reads and writes it."""

    def __init__(self, path: Path, limit: int):
        self.path, self.limit = path, limit
        # One connection per process, used under a lock: each statement is short, and one
        # connection sees its own writes at once.
        self._conn = open_shared(path, SCHEMA)
        self._lock = threading.Lock()
        self._buffers: PerWorkspace[RecordBuffer] | None = None
        self._seen = self._newest()
        self._written = 0
        self._tailer: threading.Thread | None = None

    def follow(self, buffers: PerWorkspace[RecordBuffer]) -> None:
        """Deliver what is pulled to these buffers (one per workspace)."""
        self._buffers = buffers

    def _newest(self) -> int:
        return self._conn.execute("select coalesce(max(seq), 0) from log").fetchone()[0]

    # --- writing ---
    def write_record(self, workspace: str, record: Record) -> int:
        """Keep a finished record where every worker reads it, announce it; return its number."""
        return self._insert(
            workspace,
            "trace",
            dumps_compact(record.summary()),
            record.id,
            dumps_compact({**record.to_dict(), "wall": record.wall}),
        )

    def write_message(self, workspace: str, kind: str, data: dict[str, Any]) -> None:
        """Send a live-feed message to every worker's feeds of ``workspace``."""
        self._insert(workspace, kind, dumps_compact(data))

    def clear(self, workspace: str) -> None:
        """Forget a workspace's records, in every worker: those before this message.

        The rows stay until they are trimmed (deleting the newest would let SQLite number a
        new row as an old one).
        """
        self.write_message(workspace, CLEARED, {})

    def _insert(self, workspace: str, kind: str, data: str, record_id=None, record=None) -> int:
        with self._lock:
            seq = self._conn.execute(
                "insert into log (workspace, kind, data, record_id, record) values (?, ?, ?, ?, ?)",
                (workspace, kind, data, record_id, record),
            ).lastrowid
            self._written += 1
            if self._written % TRIM_EVERY == 0:
                self._conn.execute("delete from log where seq <= ?", (self._newest() - KEPT,))
        return seq

    # --- reading ---
    def history(self, workspace: str, backlog: int) -> tuple[list, list, int]:
        """Return a workspace's kept records, its last messages and where the log is complete.

        The third value is the number after which every message of the workspace is in
        the list: a feed that says it saw an older one missed some.
        """
        with self._lock:
            records = self._conn.execute(
                "select seq, record_id, record from log where workspace = ? and record is not "
                "null and seq > (select coalesce(max(seq), 0) from log where workspace = ? and "
                "kind = ?) order by seq desc limit ?",
                (workspace, workspace, CLEARED, self.limit),
            ).fetchall()
            messages = self._conn.execute(
                "select seq, kind, data from log where workspace = ? order by seq desc limit ?",
                (workspace, backlog),
            ).fetchall()
            floor = self._conn.execute("select coalesce(min(seq), 1) - 1 from log").fetchone()[0]
        messages.reverse()
        complete_since = messages[0][0] - 1 if len(messages) == backlog else floor
        return records[::-1], messages, complete_since

    def workspaces(self) -> list[str]:
        """Return every workspace the file holds records of."""
        with self._lock:
            rows = self._conn.execute("select distinct workspace from log").fetchall()
        return [workspace for (workspace,) in rows]

    def pull(self) -> None:
        """Bring every buffer up to date with what any worker wrote since the last look."""
        if self._buffers is None:
            return
        with self._lock:
            rows = self._conn.execute(
                "select seq, workspace, kind, data, record_id, record from log where seq > ? "
                "order by seq",
                (self._seen,),
            ).fetchall()
            if rows:
                self._seen = rows[-1][0]
        for seq, workspace, kind, data, record_id, record in rows:
            buffer = self._buffers.get(workspace)
            if record is not None:  # first: a "trace" message's record is readable once seen
                buffer.apply_record(seq, record_id, record)
            buffer.apply_message(seq, kind, data)

    def watch(self) -> None:
        """Pull ten times a second while this process has a live feed open."""
        with self._lock:
            if self._tailer is not None and self._tailer.is_alive():
                return
            self._tailer = threading.Thread(
                target=self._tail, name="sandbox-records-tail", daemon=True
            )
            self._tailer.start()

    def _tail(self) -> None:
        idle_since = time.monotonic()
        while True:
            time.sleep(POLL_SECONDS)
            if self._watched():
                idle_since = time.monotonic()
                self.pull()
            elif time.monotonic() - idle_since > 5:
                # Stops a few seconds after the last feed closed: no thread left behind.
                # Checked again under the lock that watch() takes: a feed opening now
                # either is seen here or starts a new tailer.
                with self._lock:
                    if not self._watched():
                        self._tailer = None
                        return

    def _watched(self) -> bool:
        return self._buffers is not None and any(
            b.has_subscribers() for _, b in self._buffers.items()
        )

    def close(self) -> None:
        """Close this process's connection."""
        with self._lock:
            self._conn.close()
