"""What every benchmark needs: a real sandbox process on a free port, and a load generator.

Benchmarks print ratios measured in one run on one machine, alternating the
configurations being compared, so a busy neighbour slows both alike.
"""

from __future__ import annotations

import http.client
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The environment a learner's Python runs in: it keeps each module's compiled bytecode
# (__pycache__) and reuses it on the next start. Some machines turn that off
# (PYTHONDONTWRITEBYTECODE, as this project's development VM does), which makes every start
# compile ~120 modules again (~0.2 s): the benchmarks measure what the learner gets.
LEARNER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


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
def sandbox_process(data_dir: Path, config: str = "", args: tuple[str, ...] = ()):
    """Run ``python app.py`` (waitress, the default server) with ``config`` in its instance file.

    The server's output is thrown away unless ``BENCH_SERVER_LOG`` names a file to keep it in
    (where to look when a benchmark counts errors).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "config.py").write_text(config, encoding="utf-8")
    port = free_port()
    log_name = os.environ.get("BENCH_SERVER_LOG")
    log = open(log_name, "ab") if log_name else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=LEARNER_ENV,
    )
    try:
        wait_until_up(port)
        process.startup_seconds = time.perf_counter() - started
        yield port, process
    finally:
        process.terminate()
        process.wait(timeout=10)
        if log_name:
            log.close()


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
    ports: dict[str, int],
    method: str,
    path: str,
    rounds: int = 5,
    seconds: float = 2.0,
    pids: dict[str, int] | None = None,
    **kwargs,
) -> dict[str, float]:
    """Measure each port in turn, ``rounds`` times; return the median rate of each.

    With ``pids`` it also returns, as ``"<name> cpu_us"``, the server process's CPU time
    per request: on a 2-core laptop the load generator competes with the server for
    CPU, so throughput is noisy, while CPU spent per request is what recording adds.
    """
    import psutil  # measures a process's CPU time on every OS

    for port in ports.values():  # warm up: imports, caches, first connections
        throughput(port, method, path, 0.5, **kwargs)
    rates: dict[str, list[float]] = {name: [] for name in ports}
    cpu: dict[str, list[float]] = {name: [] for name in ports}
    for _ in range(rounds):
        for name, port in ports.items():
            process = psutil.Process(pids[name]) if pids else None
            before = sum(process.cpu_times()[:2]) if process else 0.0
            rate = throughput(port, method, path, seconds, **kwargs)
            rates[name].append(rate)
            if process:
                cpu[name].append((sum(process.cpu_times()[:2]) - before) / (rate * seconds) * 1e6)
    result = {name: statistics.median(values) for name, values in rates.items()}
    if pids:
        result.update({f"{name} cpu_us": statistics.median(v) for name, v in cpu.items()})
    return result


def report(
    label: str,
    result: dict[str, float],
    names: tuple[str, str] = ("records on", "records off"),
    goal: str = "goal >= 0.90",
) -> None:
    """Print throughput and CPU per request for two configurations ("records on" and "off")."""
    on, off = names
    width = max(len(on), len(off))
    for name in names:
        line = f"{label} {name:<{width}}: {result[name]:7.0f} requests/s"
        if f"{name} cpu_us" in result:
            line += f", {result[name + ' cpu_us']:6.0f} us of server CPU per request"
        print(line)
    ratio = result[on] / result[off]
    line = f"{label} throughput ratio on/off: {ratio:.2f}"
    if f"{on} cpu_us" in result:
        cost = result[f"{off} cpu_us"] / result[f"{on} cpu_us"]
        line += f"; CPU-bound throughput ratio (off/on CPU per request): {cost:.2f}"
    print(line + (f"  ({goal})" if goal else ""))
