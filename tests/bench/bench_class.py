"""Class benchmark: a room of simulated students on one class server.

Run: python tests/bench/bench_class.py [students ...]   (default: 30 100)
For each room size it starts `python app.py --class-mode` (waitress) and simulates the room:
every student joins, switches auth on in their workspace and registers (a login, with its
scrypt hash), opens the live feed, then sends one request every 0.5-2 s for SECONDS: a note
written, the notes listed, /server/get, their records, their progress. It prints p50, p95
and p99 per kind of request, the errors, and the server's CPU and memory, twice: for the
whole run, whose start is the whole room arriving in the same second (every join and
login at once), and for the lesson itself, once everyone is in.
BENCH_SERVER_LOG=server.log keeps the server's output (its tracebacks, if any).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402

from tests.bench.common import sandbox_process  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", 30))  # each student works this long
LAST = threading.local()  # each thread's last response, for its Set-Cookie
PASSWORD = "correct horse battery"
MIX = [
    ("POST", "api/notes", {"title": "a note", "body": "written in class"}),
    ("GET", "api/notes?limit=20", None),
    ("GET", "server/get", None),
    ("GET", "sandbox/traces?limit=20", None),
    ("GET", "sandbox/progress", None),
]


def call(port, method, path, body=None, headers=None, conn=None):
    """Send one request; return (status, body, milliseconds); the response is in LAST."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    started = time.perf_counter()
    conn.request(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={
            **({"Content-Type": "application/json"} if body is not None else {}),
            **(headers or {}),
        },
    )
    response = conn.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    LAST.value = response
    if own:
        conn.close()
    return response.status, data, elapsed


def student(port, code, number, stop, times, errors, feeds_open, arrived):
    """One student: join, log in once, open the feed, then work until ``stop``."""
    status, data, ms = call(
        port, "POST", "/class/join", {"name": f"student {number}", "code": code}
    )
    times.setdefault("join", []).append((time.monotonic(), ms))
    if status != 201:
        errors.append(f"join {status}")
        arrived.append(time.monotonic())
        return
    joined = json.loads(data)
    base = "/" + joined["url"].split("/", 3)[3]
    token = {"X-Sandbox-Token": joined["token"]}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    call(port, "PATCH", base + "sandbox/modules/auth", {"enabled": True}, token, conn)
    status, _, ms = call(
        port,
        "POST",
        base + "auth/register",
        {"username": f"student{number}", "password": PASSWORD},
        token,
        conn,
    )
    times.setdefault("login (register)", []).append((time.monotonic(), ms))
    headers = dict(token)
    if status != 201:
        errors.append(f"register {status}")
    else:  # logged in from now on: the session cookie goes with every request
        headers["Cookie"] = LAST.value.getheader("Set-Cookie").split(";")[0]
    threading.Thread(
        target=feed, args=(port, base, token, stop, errors, feeds_open), daemon=True
    ).start()
    arrived.append(time.monotonic())
    rng = random.Random(number)
    while time.monotonic() < stop:
        time.sleep(rng.uniform(0.5, 2.0))
        method, path, body = rng.choice(MIX)
        sent = time.monotonic()
        try:
            status, _, ms = call(port, method, base + path, body, headers, conn)
        except OSError as error:
            errors.append(f"{method} {path}: {error}")
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            continue
        times.setdefault(f"{method} {path.split('?')[0]}", []).append((sent, ms))
        if status >= 400:
            errors.append(f"{status} {method} {path}")
    conn.close()


def feed(port, base, token, stop, errors, feeds_open):
    """Keep the live feed open, as a student's landing page does."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", base + "sandbox/traces/stream", headers=token)
        response = conn.getresponse()
        if response.status != 200:
            errors.append(f"feed {response.status}")
            return
        feeds_open.append(1)
        while time.monotonic() < stop and response.fp is not None:
            if not response.fp.readline():
                break
    except OSError:
        pass
    finally:
        conn.close()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def room(size: int) -> None:
    """Simulate a room of ``size`` students and print what it measured."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-class-")) / "data"
    # A thread per open feed and a few for everything else: one feed per student.
    config = f"SANDBOX_CLASS_MODE = True\nSANDBOX_THREADS = {size + 32}\n"
    with sandbox_process(data_dir, config) as (port, process):
        from sandbox import create_app
        from sandbox.classroom import join_code

        code = join_code(create_app({"SANDBOX_DATA_DIR": str(data_dir)}))
        server = psutil.Process(process.pid)
        cpu_before = sum(server.cpu_times()[:2])
        times: dict[str, list[float]] = {}
        errors: list[str] = []
        feeds_open: list[int] = []
        arrived: list[float] = []
        stop = time.monotonic() + SECONDS
        students = [
            threading.Thread(
                target=student,
                args=(port, code, i, stop, times, errors, feeds_open, arrived),
            )
            for i in range(size)
        ]
        peak = [0.0]
        watcher = threading.Thread(target=watch_memory, args=(server, stop, peak), daemon=True)
        started = time.monotonic()
        watcher.start()
        for thread in students:
            thread.start()
        for thread in students:
            thread.join()
        elapsed = time.monotonic() - started
        cpu = sum(server.cpu_times()[:2]) - cpu_before
        rss = server.memory_info().rss / 2**20
        watcher.join()
    everyone_in = max(arrived)
    print(f"\n{size} students, {SECONDS:g} s each (feeds open: {len(feeds_open)}):")
    settle = everyone_in - started
    print(f"  the whole run, the room arriving at once (all in after {settle:.1f} s):")
    total = table(times, lambda sent: True)
    print(f"  the lesson, once everyone is in ({stop - everyone_in:.0f} s):")
    table(times, lambda sent: sent > everyone_in)
    print(
        f"  requests: {total} in {elapsed:.0f} s; errors: {len(errors)} {sorted(set(errors))[:5]}"
    )
    print(
        f"  server CPU: {cpu:.1f} s ({cpu / elapsed:.0%} of one core); "
        f"memory: {rss:.0f} MB at the end, {peak[0]:.0f} MB at the peak (sampled every 50 ms)"
    )


def watch_memory(server, stop, peak) -> None:
    """Keep the largest resident size the server reaches until ``stop``, in MB."""
    while time.monotonic() < stop:
        peak[0] = max(peak[0], server.memory_info().rss / 2**20)
        time.sleep(0.05)


def table(times, chosen) -> int:
    """Print p50, p95 and p99 of each kind of request sent when ``chosen(sent)``; count them."""
    total = 0
    for kind, samples in sorted(times.items()):
        values = [ms for sent, ms in samples if chosen(sent)]
        if not values:
            continue
        total += len(values)
        print(
            f"    {kind:<22} n={len(values):5d}  p50 {statistics.median(values):7.1f} ms"
            f"  p95 {percentile(values, 0.95):7.1f} ms  p99 {percentile(values, 0.99):7.1f} ms"
        )
    return total


if __name__ == "__main__":
    for size in [int(a) for a in sys.argv[1:]] or [30, 100]:
        room(size)
