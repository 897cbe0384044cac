"""Foundation benchmark: start-up time, Sandbox.start() time, and what recording costs.

Run: python tests/bench/bench_foundation.py
Goals (issue 2): first answer within about 1 s of `python app.py`; Sandbox.start()
within 0.5 s; throughput of /server/get with records on at least 90% of off.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import compare, report, sandbox_process  # noqa: E402


def startup(tmp: Path) -> float:
    times = []
    for i in range(3):
        with sandbox_process(tmp / f"startup-{i}") as (_, process):
            times.append(process.startup_seconds)
    return statistics.median(times)


def handle_start() -> float:
    from sandbox import Sandbox

    Sandbox.start().stop()  # the first one pays for imports, which a notebook pays once too
    times = []
    for _ in range(5):
        started = time.perf_counter()
        sandbox = Sandbox.start()
        times.append(time.perf_counter() - started)
        sandbox.stop()
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        print(f"python app.py to first answer (new data dir, median of 3): {startup(tmp):.3f} s")
        print(f"Sandbox.start() until it answers (median of 5):           {handle_start():.3f} s")
        with (
            sandbox_process(tmp / "on") as (on, p_on),
            sandbox_process(tmp / "off", "SANDBOX_RECORDS = False\n") as (off, p_off),
        ):
            result = compare(
                {"records on": on, "records off": off},
                "GET",
                "/server/get",
                pids={"records on": p_on.pid, "records off": p_off.pid},
            )
        report("GET /server/get, waitress,", result)


if __name__ == "__main__":
    main()
