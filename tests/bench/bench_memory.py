"""Memory: flat under a long run of requests, and small with a room of idle workspaces.

Run: python tests/bench/bench_memory.py [requests, default 100000] [students, default 100]
1. `python app.py`, then REQUESTS requests of a mix (a note written, the notes listed,
   /server/get, a record read) on 8 connections: the server's memory every 10%, the
   database file's size, and how many of waitress's 400 threads have run a request.
   Then the growth in the first 10% and in the last: memory must level off.
   What fills, and stops: records are kept in a ring of SANDBOX_TRACE_LIMIT (500), logs
   and metrics in rings too, and SQLite caches at most 2 MB of the (growing) database per
   pooled connection (sandbox/db.py POOL_SIZE). What no longer grows (issue 9): each
   thread that runs requests keeps a cache of freed memory of its own (glibc's malloc:
   up to 7 blocks of each small size), and waitress used to hand requests to its 400
   threads in turn, so memory crept up ~1 MB per 1,000 requests until all had run;
   the sandbox wakes the thread that went idle last (sandbox/workers.py LastIdleFirst),
   so 8 connections keep about 8 threads busy, and the growth stops once they are warm.
   Measured (issue 9, 50,000 requests): 108.7 -> 146.5 MB before, +2.4 MB in the last
   10%, all 400 threads run; 97.1 -> 112.1 MB after, 0.0 MB in the last 10%, 18 run.
   Then the same again with a mix whose write replaces a note (PUT) instead of adding one:
   the database stays the same size, so whatever still grows is not the learner's data.
2. `python app.py --class-mode`, 100 students join, each sends 20 requests, then nothing:
   the server's memory with 100 idle workspaces (each keeps its records and state).
"""

from __future__ import annotations

import http.client
import json
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402

from tests.bench.common import sandbox_process  # noqa: E402

NOTE = {"title": "a note", "body": "x" * 200}
READS = [
    ("GET", "/api/notes?limit=20", None),
    ("GET", "/server/get", None),
    ("GET", "/sandbox/traces?limit=5", None),
]
MIX = [("POST", "/api/notes", NOTE), *READS]  # a note added: the database grows
# A note replaced (one of the demo notes every sandbox starts with): the same size stays.
STEADY_MIX = [("PUT", "/api/notes/1", NOTE), *READS]


def send(conn, method, path, body=None, headers=None):
    payload = json.dumps(body) if body is not None else None
    conn.request(
        method,
        path,
        body=payload,
        headers={**({"Content-Type": "application/json"} if payload else {}), **(headers or {})},
    )
    response = conn.getresponse()
    data = response.read()
    if response.status >= 400:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:200]!r}")
    return data


def work(port: int, worker: int, count: int, mix: list = MIX) -> None:
    """Send this worker's share of ``count`` requests of the mix, on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for i in range(worker, count, 8):
        method, path, body = mix[i % len(mix)]
        send(conn, method, path, body)
    conn.close()


def threads_that_ran(server: psutil.Process) -> str:
    """Return "N of M": how many of the server's threads have used the CPU at all."""
    try:
        threads = server.threads()
    except psutil.AccessDenied:  # some systems show another process's threads to root only
        return "?"
    ran = sum(1 for t in threads if t.user_time + t.system_time > 0.02)
    return f"{ran} of {len(threads)}"


def long_run(total: int, mix: list = MIX, what: str = "a note added every 4th request") -> None:
    print(f"{total:,} requests on one sandbox (8 connections; {what}):")
    data_dir = Path(tempfile.mkdtemp()) / "data"
    with sandbox_process(data_dir) as (port, process):
        server = psutil.Process(process.pid)
        step = total // 10
        sizes = [server.memory_info().rss / 2**20]
        print(f"  at start:                {sizes[0]:6.1f} MB")
        for done in range(0, total, step):
            threads = [threading.Thread(target=work, args=(port, w, step, mix)) for w in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sizes.append(server.memory_info().rss / 2**20)
            database = (data_dir / "sandbox.db").stat().st_size / 2**20
            print(
                f"  after {done + step:7,} requests: {sizes[-1]:6.1f} MB"
                f"  (database {database:5.1f} MB; threads that have run: "
                f"{threads_that_ran(server)})"
            )
    first, last = sizes[1] - sizes[0], sizes[-1] - sizes[-2]
    verdict = (
        f"levelling off at about {max(sizes):.0f} MB"
        if last < max(first / 4, 0.5)
        else "STILL GROWING: look for what keeps memory (tracemalloc, /proc/<pid>/smaps)"
    )
    print(
        f"  growth in the first 10%: {first:+.1f} MB, in the last 10%: {last:+.1f} MB "
        f"({last / step * 1000:+.2f} MB per 1,000 requests): {verdict}.\n"
        "  What fills, then stops: the rings of records and logs, the cache of URLs "
        "(4,096), SQLite's page cache (at most 2 MB per pooled connection), each thread's "
        "cache of freed memory (only the threads that have run: see the docstring)."
    )


def idle_room(students: int = 100) -> None:
    data_dir = Path(tempfile.mkdtemp()) / "data"
    with sandbox_process(data_dir, "SANDBOX_CLASS_MODE = True\n") as (port, process):
        from sandbox import create_app
        from sandbox.classroom import join_code

        code = join_code(create_app({"SANDBOX_DATA_DIR": str(data_dir)}))
        server = psutil.Process(process.pid)
        before = server.memory_info().rss / 2**20
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for number in range(students):
            joined = json.loads(
                send(conn, "POST", "/class/join", {"name": f"s{number}", "code": code})
            )
            base = "/" + joined["url"].split("/", 3)[3]
            token = {"X-Sandbox-Token": joined["token"]}
            for i in range(20):
                method, path, body = MIX[i % len(MIX)]
                send(conn, method, base + path.lstrip("/"), body, token)
        conn.close()
        after = server.memory_info().rss / 2**20
    print(
        f"{students} workspaces, 20 requests each, then idle: {after:.0f} MB "
        f"(the class server alone: {before:.0f} MB)"
    )


if __name__ == "__main__":
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    long_run(total)
    long_run(total, STEADY_MIX, "a note replaced every 4th request: the data stays the same size")
    idle_room(int(sys.argv[2]) if len(sys.argv) > 2 else 100)
