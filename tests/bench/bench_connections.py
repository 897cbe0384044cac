"""Idle keep-alive connections: how many a server holds while new clients still get answers.

Run: python tests/bench/bench_connections.py [connections ...]   (default: 100 500 1000)
A browser, Postman or a notebook's requests.Session keeps its connection open between
requests. For each count it starts `python app.py` (its default settings), opens that
many connections, each sending one request and then staying open and idle, and then
sends 50 requests on new connections, one after another: it prints how many idle
connections the server holds, how many new clients got an answer, and their p50 and p99.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import sandbox_process  # noqa: E402

COUNTS = (100, 500, 1000)


def open_idle(port: int, count: int) -> list[socket.socket]:
    """Open ``count`` connections that each send one request, read the answer and wait."""
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            sock.sendall(b"GET /sandbox/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answered = b"200 OK" in sock.recv(65536)
        except OSError:  # no answer within 5 s: the server holds no more
            answered = False
        if not answered:
            sock.close()
            break
        held.append(sock)
    return held


def new_clients(port: int, count: int = 50) -> tuple[int, list[float]]:
    """Send ``count`` requests, each on a new connection; return the answered and their ms."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/sandbox/health")
            if conn.getresponse().status == 200:
                times.append((time.perf_counter() - started) * 1000)
            conn.close()
        except OSError:
            pass
    return len(times), times


def main() -> None:
    counts = [int(a) for a in sys.argv[1:]] or list(COUNTS)
    print(f"{'idle':>6}{'held':>7}{'new answered':>14}{'p50 ms':>9}{'p99 ms':>9}")
    for count in counts:
        with tempfile.TemporaryDirectory() as name, sandbox_process(Path(name)) as (port, _):
            held = open_idle(port, count)
            time.sleep(0.5)
            answered, times = new_clients(port)
            times.sort()
            p50 = statistics.median(times) if times else float("nan")
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
            print(f"{count:6d}{len(held):7d}{answered:>11d}/50{p50:9.1f}{p99:9.1f}")
            for sock in held:
                sock.close()


if __name__ == "__main__":
    main()
