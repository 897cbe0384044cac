"""Foundation benchmark: start-up time, Sandbox.start() time, and what recording costs.

Run: python tests/bench/bench_foundation.py [seconds per throughput measurement, default 2]
Goals (issue 2): first answer within about 1 s of `python app.py`; Sandbox.start()
within 0.5 s; throughput of /server/get with records on at least 90% of off. Issue 9:
first answer within 0.5 s; `from sandbox import Sandbox; Sandbox.start()` in a fresh
kernel within 1.0 s together. Beside them, the floor: a Python that starts and does
nothing, and one that only imports Flask, measured the same way in the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import LEARNER_ENV, compare, report, sandbox_process  # noqa: E402


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


FRESH_KERNEL = """
import time
started = time.perf_counter()
from sandbox import Sandbox
imported = time.perf_counter()
sandbox = Sandbox.start()
print(imported - started, time.perf_counter() - imported)
sandbox.stop()
"""


def fresh_kernel(tmp: Path) -> tuple[float, float]:
    """Return the median import and start seconds of the sandbox in a new Python process."""
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", FRESH_KERNEL],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=True,
            env={**LEARNER_ENV, "PYTHONPATH": str(Path(__file__).parents[2])},
        ).stdout.split()
        runs.append((float(out[-2]), float(out[-1])))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def process_seconds(code: str) -> float:
    """Return the median wall time of ``python -c code`` from start to exit."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=LEARNER_ENV)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        # Bytecode kept between starts, as a learner's Python does (common.LEARNER_ENV).
        print(f"python app.py to first answer (new data dir, median of 3): {startup(tmp):.3f} s")
        print(f"Sandbox.start() until it answers (median of 5):           {handle_start():.3f} s")
        imported, started = fresh_kernel(tmp)
        print(
            f"fresh kernel: import {imported:.3f} s + Sandbox.start() {started:.3f} s = "
            f"{imported + started:.3f} s (goal <= 1.0 s together)"
        )
        print(
            f"floor: python that does nothing {process_seconds('pass'):.3f} s, "
            f"python that imports flask {process_seconds('import flask'):.3f} s, "
            f"python that imports flask, pydantic and sqlite_utils "
            f"{process_seconds('import flask, pydantic, sqlite_utils'):.3f} s"
        )
        with (
            sandbox_process(tmp / "on") as (on, p_on),
            sandbox_process(tmp / "off", "SANDBOX_RECORDS = False\n") as (off, p_off),
        ):
            result = compare(
                {"records on": on, "records off": off},
                "GET",
                "/server/get",
                pids={"records on": p_on.pid, "records off": p_off.pid},
                seconds=seconds,
            )
        report("GET /server/get, waitress,", result)


if __name__ == "__main__":
    main()
