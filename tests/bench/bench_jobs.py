"""The jobs module: what moving the export off the request saves, and what being on costs.

Run: python tests/bench/bench_jobs.py [seconds per measurement, default 2] [notes, default 1000]
Starts `python app.py`, generates the notes, then, in one run:
- the export (POST /api/notes/export): request time with the module off (the request
  builds the archive) against on (the request queues a job: 202); off / on; and how long
  a queued job took from its 202 to done (the work itself did not get faster);
- the cost of being on for a request that has nothing to do with it (GET /server/get),
  8 connections: requests per second and server CPU per request, on against off;
- the idle workers' polling: the server's CPU time per second with nothing to do.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import compare, sandbox_process  # noqa: E402


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[float, int, dict]:
    """Send one request; return its milliseconds, status and JSON body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    started = time.perf_counter()
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status < 400, (method, path, response.status, data[:300])
    return elapsed, response.status, json.loads(data) if data else {}


def switch(port: int, on: bool) -> None:
    call(port, "PATCH", "/sandbox/modules/jobs", {"enabled": on})


def until_done(port: int, job_id: int) -> dict:
    while True:
        job = call(port, "GET", f"/jobs/{job_id}")[2]
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float:
    """Return a process's CPU time so far, to the nanosecond where Linux tells it."""
    tasks = Path(f"/proc/{pid}/task")
    if tasks.is_dir():  # schedstat: nanoseconds per thread (psutil counts 10 ms ticks)
        total = 0
        for task in tasks.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that ended meanwhile
        return total / 1e9
    return sum(psutil.Process(pid).cpu_times()[:2])


def idle_cpu_ms_per_s(pid: int, seconds: float) -> float:
    """Return the server's CPU milliseconds per second while nobody sends it anything."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / seconds * 1000


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    notes = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with tempfile.TemporaryDirectory() as name, sandbox_process(Path(name)) as (port, process):
        for start in range(0, notes, 500):
            call(port, "POST", "/caching/notes", {"count": min(500, notes - start), "seed": start})
        off, on, waits = [], [], []
        for _ in range(3):  # alternating, so a busy neighbour slows both alike
            switch(port, False)
            ms, status, _ = call(port, "POST", "/api/notes/export")
            assert status == 200
            off.append(ms)
            switch(port, True)
            started = time.perf_counter()
            ms, status, job = call(port, "POST", "/api/notes/export")
            assert status == 202
            on.append(ms)
            assert until_done(port, job["id"])["status"] == "done"
            waits.append((time.perf_counter() - started) * 1000)
        print(f"export of {notes + 3} notes, request time (ms, median of 3):")
        print(
            f"  jobs off (built in the request) {statistics.median(off):8.1f}   "
            f"jobs on (202, queued) {statistics.median(on):6.1f}"
        )
        print(f"  request time off / on: {statistics.median(off) / statistics.median(on):.0f}x")
        print(f"  a queued job, from its 202 to done: {statistics.median(waits):8.1f} ms")
        path = "/server/get"
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
            f"a request it has nothing to do with (GET {path}): on {on_rate:.0f} req/s, "
            f"{on_cpu:.0f} us CPU; off {off_rate:.0f} req/s, {off_cpu:.0f} us CPU; "
            f"CPU per request on/off {on_cpu / off_cpu:.2f}"
        )
        idle = {}
        for state in (True, False):
            switch(port, state)
            time.sleep(1)  # the workers' polling settles at its slowest
            idle[state] = idle_cpu_ms_per_s(process.pid, 2 * seconds)
        print(
            f"idle server CPU: jobs on {idle[True]:.2f} ms/s (two workers and a scheduler "
            f"asking the queue for work), off {idle[False]:.2f} ms/s"
        )


if __name__ == "__main__":
    main()
