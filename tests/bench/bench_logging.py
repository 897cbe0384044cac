"""The logging module: what structured logs cost on a write.

Run: python tests/bench/bench_logging.py [seconds per measurement, default 2] [rounds, default 3]
Starts `python app.py`, then, in one run, measures POST /api/notes (a note written
by 4 connections) with the module off (one plain line per request) and on (a JSON
line per event and per request, with its record id, redacted, levels applied), in
alternating rounds: requests per second and server CPU per request, and the ratio on/off.
The issue's goal: on / off >= 0.9.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import compare, sandbox_process  # noqa: E402

NOTE = json.dumps({"title": "a note", "body": "measured", "tags": ["bench"]}).encode()


def switch(port: int, on: bool) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "PATCH",
        "/sandbox/modules/logging",
        body=json.dumps({"enabled": on}),
        headers={"Content-Type": "application/json"},
    )
    assert conn.getresponse().status == 200


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as name, sandbox_process(Path(name)) as (port, process):
        for _ in range(rounds):
            for state in (False, True):  # alternating: a slow spell of the machine hits both
                switch(port, state)
                measured = compare(
                    {"on": port},
                    "POST",
                    "/api/notes",
                    rounds=1,
                    seconds=seconds,
                    pids={"on": process.pid},
                    body=NOTE,
                    headers={"Content-Type": "application/json"},
                )
                results[state].append((measured["on"], measured["on cpu_us"]))
    on_rate = statistics.median(r for r, _ in results[True])
    off_rate = statistics.median(r for r, _ in results[False])
    on_cpu = statistics.median(c for _, c in results[True])
    off_cpu = statistics.median(c for _, c in results[False])
    print(f"POST /api/notes, median of {rounds} rounds of {seconds:g} s, 4 connections:")
    print(f"  logging off {off_rate:7.0f} req/s  {off_cpu:6.0f} us CPU per request")
    print(f"  logging on  {on_rate:7.0f} req/s  {on_cpu:6.0f} us CPU per request")
    print(
        f"ratio on/off: throughput {on_rate / off_rate:.2f}, "
        f"CPU per request {off_cpu / on_cpu:.2f} (goal >= 0.90)"
    )


if __name__ == "__main__":
    main()
