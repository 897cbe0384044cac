"""API and database benchmark: notes throughput with records on and off, SQL console latency.

Run: python tests/bench/bench_api.py
Prints requests per second for GET /api/notes/<id> and GET /api/notes?limit=20 under
waitress, with records on and off (as a ratio), on a database of 10,000 notes, and
the latency of the read-only SQL console on those notes.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import compare, report, sandbox_process  # noqa: E402

NOTES = 10_000


def seed(data_dir: Path) -> None:
    """Create a data dir whose database holds NOTES notes."""
    from sandbox import create_app

    create_app({"SANDBOX_DATA_DIR": str(data_dir)})  # schema and example notes
    conn = sqlite3.connect(data_dir / "sandbox.db")
    with conn:
        conn.executemany(
            "insert into notes (workspace, owner, title, body, tags, created_at, updated_at) "
            "values ('local', 'guest', ?, ?, ?, ?, ?)",
            [
                (
                    f"Note {n}",
                    "body " * 20,
                    json.dumps([f"tag{n % 50}"]),
                    f"2026-01-01T00:00:{n:06d}",
                    f"2026-01-01T00:00:{n:06d}",
                )
                for n in range(NOTES)
            ],
        )
    conn.close()


def sql_latency(port: int, sql: str, runs: int = 30) -> float:
    """Return the median milliseconds of POST /sandbox/sql for one statement."""
    times = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"sql": sql, "explain": True})
    for _ in range(runs):
        started = time.perf_counter()
        conn.request(
            "POST", "/sandbox/sql", body=body, headers={"Content-Type": "application/json"}
        )
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for folder in ("on", "off"):
            seed(tmp / folder)
        with (
            sandbox_process(tmp / "on") as (on, p_on),
            sandbox_process(tmp / "off", "SANDBOX_RECORDS = False\n") as (off, p_off),
        ):
            ports = {"records on": on, "records off": off}
            pids = {"records on": p_on.pid, "records off": p_off.pid}
            for path in ("/api/notes/5000", "/api/notes?limit=20"):
                report(f"GET {path:<20}", compare(ports, "GET", path, pids=pids))
            for sql in (
                "select count(*) from notes",
                "select id, title from notes where workspace = 'local' "
                "order by created_at desc limit 20",
                "select * from notes where title like '%999%'",
            ):
                print(
                    f"SQL console, {NOTES} notes, median of 30: {sql_latency(on, sql):6.2f} ms"
                    f"  ({sql})"
                )


if __name__ == "__main__":
    main()
