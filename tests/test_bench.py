"""The benchmarks still run: each once, small and quick, so none can rot unnoticed.

The figures themselves come from running them in full on a quiet machine
(python tests/bench/bench_speed.py, python tests/bench/bench_class.py 30 100); here only
that they run to the end, measure something and count no error.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from helpers import ROOT


def run_bench(*args: str, **env: str) -> str:
    finished = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished.stdout


def test_the_memory_benchmark_runs_and_says_whether_memory_levels_off():
    out = run_bench("tests/bench/bench_memory.py", "400", "3")
    assert re.search(r"after +400 requests: +\d+\.\d MB +\(database +\d+\.\d MB; threads", out), out
    assert re.search(r"in the last 10%: [+-]\d+\.\d MB .*: (levelling off|STILL GROWING)", out), out
    assert re.search(r"3 workspaces, 20 requests each, then idle: \d+ MB", out), out


def test_the_speed_benchmark_runs():
    out = run_bench("tests/bench/bench_speed.py", "0.3")
    assert re.search(r"sandbox  waitress  /server/get\s+\d+\s+\d+ us", out), out
    assert re.search(r"under waitress: sandbox / flask\s+throughput \d+\.\d\d", out), out


def test_the_layers_benchmark_runs():
    out = run_bench("tests/bench/bench_layers.py", "1")
    assert re.search(r"^sandbox /server/get\s+\d+\s+\d+$", out, re.MULTILINE), out
    for layer in ("records", "challenge checks", "log line", "guard", "gate"):
        assert re.search(rf"^  {layer}\s+-?\d+ us", out, re.MULTILINE), out
    assert re.search(r"sandbox / bare Flask, app time only: \d\.\d\d", out), out


def test_the_class_benchmark_runs():
    out = run_bench("tests/bench/bench_class.py", "3", BENCH_SECONDS="3")
    assert "3 students, 3 s each (feeds open: 3)" in out, out
    assert "errors: 0 []" in out, out
    assert re.search(r"GET server/get\s+n=\s*\d+", out), out


def test_the_connections_benchmark_runs():
    out = run_bench("tests/bench/bench_connections.py", "20")
    assert re.search(r"^\s+20\s+20\s+50/50\s+\d+\.\d\s+\d+\.\d$", out, re.MULTILINE), out


def test_the_workers_benchmark_runs():
    out = run_bench("tests/bench/bench_workers.py", "0.5", "1", "2")
    assert re.search(r"--workers 1:\s+\d+ requests/s, p50 .* 0 errors", out), out
    assert re.search(r"--workers 2:\s+\d+ requests/s, p50 .* 0 errors", out), out
    assert re.search(r"ratio --workers 2 / --workers 1: \d\.\d\d", out), out


def test_the_caching_benchmark_runs():
    out = run_bench("tests/bench/bench_caching.py", "0.3", "1000")
    assert re.search(r"speed-up hit / off: \d+x", out), out
    assert re.search(r"one note \(GET /api/notes/5\): on \d+ req/s", out), out


def test_the_logging_benchmark_runs():
    out = run_bench("tests/bench/bench_logging.py", "0.3", "1")
    assert re.search(r"ratio on/off: throughput \d+\.\d\d, CPU per request \d+\.\d\d", out), out


def test_the_jobs_benchmark_runs():
    out = run_bench("tests/bench/bench_jobs.py", "0.3", "50")
    assert re.search(r"request time off / on: \d+x", out), out
    assert re.search(r"nothing to do with \(GET /server/get\): on \d+ req/s", out), out
    assert re.search(r"idle server CPU: jobs on \d+\.\d\d ms/s", out), out


def test_the_indexing_benchmark_runs():
    out = run_bench("tests/bench/bench_indexing.py", "0.3", "20000", "2000")
    assert re.search(r"speed-up index / scan: statement \d+x, request \d+x", out), out
    assert re.search(r"insert cost with / without the extra index: \d+\.\d\dx", out), out
    assert re.search(r"slow-down off / on: statement \d+x, request \d+x", out), out
    assert re.search(r"one without \(GET /server/get\): on \d+ req/s", out), out


def test_the_ratelimit_benchmark_runs():
    out = run_bench("tests/bench/bench_ratelimit.py", "1")
    assert re.search(r"flood, ratelimit off\s+\d+\.\dms\s+\d+\.\dms\s+\d+\s+0$", out, re.M), out
    assert re.search(
        r"flood, ratelimit on \(30/second\)\s+[\d.]+ms\s+[\d.]+ms\s+\d+\s+[1-9]", out
    ), out
    assert re.search(r"victor's p99 during the flood, off / on: \d+\.\dx", out), out
    assert re.search(r"CPU per request on/off \d+\.\d\d", out), out


def test_the_json_server_benchmark_runs_or_says_why_not():
    # Installs json-server into ~/.cache/sandbox-bench the first time, where npm exists.
    out = run_bench("tests/bench/bench_jsonserver.py", "0.3")
    if "npm or node not found" in out:
        assert "install Node.js" in out  # said, not silently skipped
    else:
        # sandbox, bare Flask and json-server: requests/s, then the ratio and the floor.
        assert re.search(r"GET one note\s+\d+\s+\d+\s+\d+\s+\d+\.\d\d\s+\d+\.\d\d", out), out


def test_the_validation_benchmark_runs():
    out = run_bench("tests/bench/bench_validation.py", "0.3", "1")
    assert re.search(r"ratio on / off: \d+\.\d\d", out), out
    assert re.search(r"the check alone \(notes.checked, in-process\): \d+\.\d us", out), out


def test_the_start_up_benchmark_runs_and_shows_the_floor():
    out = run_bench("tests/bench/bench_foundation.py", "0.3")
    assert re.search(r"python app.py to first answer .*: \d+\.\d{3} s", out), out
    assert re.search(r"fresh kernel: import \d+\.\d{3} s \+ Sandbox.start\(\) \d+\.\d{3} s", out)
    assert re.search(r"python that imports flask \d+\.\d{3} s", out), out


def test_the_live_feeds_benchmark_runs_and_refuses_none():
    out = run_bench("tests/bench/bench_feeds.py", "16", BENCH_FEED_STEPS="4,8")
    found = re.findall(r"feeds asked\s+(\d+): open\s+(\d+), refused\s+(\d+);.*p99\s+[\d.]+ ms", out)
    assert found == [("4", "4", "0"), ("8", "8", "0")], out
