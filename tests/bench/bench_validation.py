"""The validation module: what checking every note at the door costs.

Run: python tests/bench/bench_validation.py [seconds per measurement, default 2]
Starts `python app.py` and, in one run, sends POST /api/notes (a valid note: title, body,
tags) with the module on (the pydantic models check it) and off (stored as sent), taking
turns, and prints requests per second, server CPU per request and the ratio on / off
(issue 11 asks for at least 0.9: checking must cost little next to storing).
"""

from __future__ import annotations

import json
import sys
import tempfile
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import compare, sandbox_process  # noqa: E402

NOTE = {"title": "A note to measure with", "body": "Some text. " * 20, "tags": ["bench", "x"]}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    body = json.dumps(NOTE).encode()
    headers = {"Content-Type": "application/json"}
    with tempfile.TemporaryDirectory() as name, sandbox_process(Path(name)) as (port, process):
        rates = {True: [], False: []}
        cpus = {True: [], False: []}
        for _ in range(rounds):  # taking turns: a slower moment of the machine hits both
            for state in (True, False):
                compare(
                    {"switch": port},
                    "PATCH",
                    "/sandbox/modules/validation",
                    rounds=1,
                    seconds=0.01,
                    body=json.dumps({"enabled": state}).encode(),
                    headers=headers,
                    concurrency=1,
                )
                measured = compare(
                    {"on": port},
                    "POST",
                    "/api/notes",
                    rounds=1,
                    seconds=seconds,
                    pids={"on": process.pid},
                    body=body,
                    headers=headers,
                    concurrency=4,
                )
                rates[state].append(measured["on"])
                cpus[state].append(measured["on cpu_us"])
        on, off = max(rates[True]), max(rates[False])
        on_cpu, off_cpu = min(cpus[True]), min(cpus[False])
        print("POST /api/notes, a valid note, 4 connections (best of each):")
        print(f"  validation on  {on:6.0f} req/s  {on_cpu:6.0f} us CPU per request")
        print(f"  validation off {off:6.0f} req/s  {off_cpu:6.0f} us CPU per request")
        print(f"  ratio on / off: {on / off:.2f}  (goal >= 0.9)")
        print(f"  CPU per request on / off: {on_cpu / off_cpu:.2f}")
    # Off still runs the models once, to write in the record what got in; so the check by
    # itself, in this process, is the cost that switching validation on adds to a request.
    from sandbox.notes import checked

    runs = 20_000
    each = timeit.timeit(lambda: checked(NOTE), number=runs) / runs * 1e6
    print(f"  the check alone (notes.checked, in-process): {each:.1f} us per note")


if __name__ == "__main__":
    main()
