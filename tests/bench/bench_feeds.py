"""Open live feeds: how many a server holds, and what they cost everyone else.

Run: python tests/bench/bench_feeds.py [threads ...]   (default: 64 400)
For each thread count it starts `python app.py --threads N` and opens live feeds (the
landing page's /sandbox/traces/stream, one per tab) 50 at a time up to 300, each a real
connection that keeps reading. After each step it sends 200 quick requests one after
another (/sandbox/health) and prints how many feeds are open, how many were refused
(503: no slot left), the health check's p50 and p99, and the server's memory.
BENCH_FEED_STEPS (e.g. "5,10") asks for other steps: the test suite's quick run.
"""

from __future__ import annotations

import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402

from tests.bench.common import sandbox_process  # noqa: E402

STEPS = tuple(int(n) for n in os.environ.get("BENCH_FEED_STEPS", "50,100,200,300").split(","))


def hold_feed(port: int, opened: list, refused: list, stop: threading.Event) -> None:
    """Open one feed and read it until ``stop``, reopening it when the server ends it."""
    while not stop.is_set():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/sandbox/traces/stream")
            response = conn.getresponse()
            if response.status != 200:
                refused.append(response.status)
                return
            opened.append(1)
            try:
                while not stop.is_set() and response.fp is not None:
                    if not response.fp.readline():
                        break
            finally:
                opened.pop()
        except OSError:
            return
        finally:
            conn.close()


def health_times(port: int, count: int = 200) -> list[float]:
    """Send ``count`` health checks one after another; return each one's milliseconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        conn.request("GET", "/sandbox/health")
        conn.getresponse().read()
        times.append((time.perf_counter() - started) * 1000)
    conn.close()
    return times


def run(threads: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-feeds-")) / "data"
    config = f"SANDBOX_THREADS = {threads}\nSANDBOX_CONNECTION_LIMIT = 1000\n"
    print(f"\n--threads {threads}:")
    with sandbox_process(data_dir, config) as (port, process):
        server = psutil.Process(process.pid)
        opened: list = []
        refused: list = []
        stop = threading.Event()
        holders: list[threading.Thread] = []
        try:
            for step in STEPS:
                while len(holders) < step:
                    holder = threading.Thread(
                        target=hold_feed, args=(port, opened, refused, stop), daemon=True
                    )
                    holder.start()
                    holders.append(holder)
                time.sleep(1.5)  # let them connect
                times = sorted(health_times(port))
                p99 = times[int(0.99 * len(times)) - 1]
                rss = server.memory_info().rss / 2**20
                print(
                    f"  feeds asked {step:3d}: open {len(opened):3d}, refused {len(refused):3d};"
                    f"  health p50 {statistics.median(times):6.1f} ms  p99 {p99:6.1f} ms;"
                    f"  server memory {rss:5.0f} MB, threads {server.num_threads()}"
                )
        finally:
            stop.set()


if __name__ == "__main__":
    for count in [int(a) for a in sys.argv[1:]] or [64, 400]:
        run(count)
