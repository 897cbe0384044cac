"""The caching module: what a hit saves, and what the module costs when it is on.

Run: python tests/bench/bench_caching.py [seconds per measurement, default 2]
Starts `python app.py`, generates 10,000 notes, then, in one run:
- the report (GET /caching/report): median request time with the module off (computed
  every time), the first request with it on (a miss) and the hits after it; hit / off;
- one note (GET /api/notes/5), the module on (hits) against off, 8 connections:
  requests per second and server CPU per request;
- the cost of being on for a request it does not cache (GET /server/get).
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import compare, sandbox_process  # noqa: E402


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[float, dict]:
    """Send one request; return its milliseconds and headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    started = time.perf_counter()
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status < 400, (method, path, response.status)
    return elapsed, dict(response.getheaders())


def switch(port: int, on: bool) -> None:
    call(port, "PATCH", "/sandbox/modules/caching", {"enabled": on})


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    notes = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    with tempfile.TemporaryDirectory() as name, sandbox_process(Path(name)) as (port, process):
        for start in range(0, notes, 1000):
            call(port, "POST", "/caching/notes", {"count": min(1000, notes - start), "seed": start})
        switch(port, False)
        off = [call(port, "GET", "/caching/report")[0] for _ in range(3)]
        switch(port, True)
        miss, headers = call(port, "GET", "/caching/report")
        assert headers["X-Cache"] == "miss", headers
        hits = [call(port, "GET", "/caching/report")[0] for _ in range(20)]
        print(f"report over {notes} notes, request time (ms, median):")
        print(
            f"  module off {statistics.median(off):8.1f}   first on (miss) {miss:8.1f}"
            f"   hit {statistics.median(hits):6.1f}"
        )
        print(
            f"  speed-up hit / off: {statistics.median(off) / statistics.median(hits):.0f}x"
            "  (the caching.fast_hit challenge asks for 20x)"
        )
        for label, path in (
            ("one note", "/api/notes/5"),
            ("a request it does not cache", "/server/get"),
        ):
            rates = {}
            for state in (True, False):
                switch(port, state)
                measured = compare(
                    {"on": port},
                    "GET",
                    path,
                    rounds=3,
                    seconds=seconds,
                    pids={"on": process.pid},
                    concurrency=8,
                )
                rates[state] = (measured["on"], measured["on cpu_us"])
            (on_rate, on_cpu), (off_rate, off_cpu) = rates[True], rates[False]
            print(
                f"{label} (GET {path}): on {on_rate:.0f} req/s, {on_cpu:.0f} us CPU; "
                f"off {off_rate:.0f} req/s, {off_cpu:.0f} us CPU; "
                f"CPU per request on/off {on_cpu / off_cpu:.2f}"
            )


if __name__ == "__main__":
    main()
