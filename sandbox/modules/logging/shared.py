"""Log lines shared by every worker process (``python app.py --workers N``).

One process keeps each workspace's last lines in memory (a :class:`~.logs.Buffer`), and the
viewer reads them there. Several processes cannot: a learner's request may be served by any
worker, and so may the viewer's next look. So each worker writes its lines into one SQLite
file in the data dir, ``logs.db``, and, before the viewer (or ``sb.logs()``) reads, pulls the
lines the others wrote since it last looked into its own buffers. It is how the records are
shared (sandbox/shared_records.py), in a file of its own: a request may write several lines,
and SQLite lets one writer at a time into a file, so the records' writes do not wait on these.

The file numbers the lines: that number is the line's ``seq`` in every worker, so the live
tail's ``after=`` means the same whichever worker answers it. SQLite commits one write at a
time, so whoever sees line 11 has seen line 10. Each line names its ``worker`` (its process
id), as records do. One worker (the default) never opens this file: its lines stay in memory.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...shared_records import open_shared

if TYPE_CHECKING:
    from sandbox.workspaces import PerWorkspace

    from .logs import Buffer

# A row whose line is null: the workspace was reset, so every worker forgets its lines.
SCHEMA = """
create table if not exists lines (
    seq integer primary key,
    workspace text not null,
    line text  -- the JSON line but its seq; null: the lines before this are forgotten
);
"""
# Rows kept, all workspaces together; each worker's buffers keep SANDBOX_LOG_LIMIT a workspace.
KEPT = 20_000
TRIM_EVERY = 500  # a worker trims the file every this many lines it wrote


class SharedLines:
    """The logs.db of one data dir, as one worker process writes and reads it."""

    def __init__(self, path: Path, buffers: PerWorkspace[Buffer]):
        self.buffers, self.worker = buffers, os.getpid()
        # One connection per process, used under a lock: each statement is short.
        self._conn = open_shared(path, SCHEMA)
        self._lock = threading.Lock()
        self._seen = 0  # a worker that starts late still lists what the others logged
        self._written = 0

    def write(self, workspace: str, line: dict[str, Any]) -> None:
        """Number a line in the shared file, name its worker, and write it there."""
        line["worker"] = self.worker
        # Its number is the row's, known once written: kept beside the JSON, not in it.
        text = json.dumps({k: v for k, v in line.items() if k != "seq"}, default=str)
        with self._lock:
            line["seq"] = self._insert(workspace, text)

    def clear(self, workspace: str) -> None:
        """Forget a workspace's lines, in every worker."""
        with self._lock:
            self._insert(workspace, None)

    def _insert(self, workspace: str, line: str | None) -> int:
        seq = self._conn.execute(
            "insert into lines (workspace, line) values (?, ?)", (workspace, line)
        ).lastrowid
        self._written += 1
        if self._written % TRIM_EVERY == 0:
            self._conn.execute("delete from lines where seq <= ?", (seq - KEPT,))
        return seq

    def pull(self) -> None:
        """Bring every buffer up to date with the lines any worker wrote since the last look."""
        with self._lock:  # also keeps two pulls from adding the same lines twice
            rows = self._conn.execute(
                "select seq, workspace, line from lines where seq > ? order by seq", (self._seen,)
            ).fetchall()
            for seq, workspace, line in rows:
                buffer = self.buffers.get(workspace)
                if line is None:
                    buffer.clear()
                else:
                    buffer.add({"seq": seq, **json.loads(line)})
                self._seen = seq

    def close(self) -> None:
        with self._lock:
            self._conn.close()
