"""What every benchmark needs: a real sandbox process on a free port, and a load generator.

Benchmarks print ratios measured in one run on one machine, alternating the
configurations being compared, so a busy neighbour slows both alike.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, timeout: float = 15) -> float:
    """Poll /sandbox/health until it answers 200; return the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/sandbox/health")
            if conn.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"no sandbox on port {port} after {timeout} s")


@contextmanager
def sandbox_process(data_dir: Path, config: str = ""):
    """Run ``python app.py`` (waitress, the default server) with ``config`` in its instance file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.py").write_text(config, encoding="utf-8")
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--data-dir", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(port)
        process.startup_seconds = time.perf_counter() - started
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def throughput(
    port: int,
    method: str,
    path: str,
    seconds: float,
    concurrency: int = 4,
    body: bytes | None = None,
    headers: dict | None = None,
) -> float:
    """Send requests on keep-alive connections for ``seconds``; return requests per second."""
    counts = [0] * concurrency
    errors: list[str] = []
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.perf_counter() < stop:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            response.read()
            if response.status >= 400:
                errors.append(f"{response.status} on {method} {path}")
                return
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return sum(counts) / seconds


def compare(
    ports: dict[str, int], method: str, path: str, rounds: int = 5, seconds: float = 2.0, **kwargs
) -> dict[str, float]:
    """Measure each port in turn, ``rounds`` times; return the median rate of each."""
    for port in ports.values():  # warm up: imports, caches, first connections
        throughput(port, method, path, 0.5, **kwargs)
    rates: dict[str, list[float]] = {name: [] for name in ports}
    for _ in range(rounds):
        for name, port in ports.items():
            rates[name].append(throughput(port, method, path, seconds, **kwargs))
    return {name: statistics.median(values) for name, values in rates.items()}
