"""Speed against the tools a learner would pick instead, and under two servers.

Run: python tests/bench/bench_speed.py [seconds per measurement, default 2]
Each app (the sandbox's /server/get with records on, a bare Flask app returning the same
JSON, httpbin's /get when httpbin is installed) is served by each server (waitress, the
sandbox's default; granian when it is installed), all with 64 threads for the app, and
measured in turn for three rounds, so a busy neighbour slows all alike. It prints
requests per second (8 keep-alive connections) and the server's CPU time per request
(its process and children: on a 2-core machine the load generator competes with the
server, so CPU per request is the steadier figure), then the ratios issue 9 sets goals
for, under each server.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402

from tests.bench.common import ROOT, free_port, throughput, wait_until_up  # noqa: E402

PATHS = {"sandbox": "/server/get", "flask": "/get", "httpbin": "/get"}
GOALS = {"httpbin": 1.0, "flask": 0.8}


@contextmanager
def served(app: str, server: str, data_dir: Path):
    """Serve ``app`` with ``server`` on a free port; yield (port, process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "bench" / "bare.py"), str(port), app, server],
        env={**os.environ, "SANDBOX_DATA_DIR": str(data_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(port, timeout=30)
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


def cpu_seconds(process: psutil.Process) -> float:
    """Return the CPU time of a server process and its workers (granian forks one)."""
    return sum(sum(p.cpu_times()[:2]) for p in [process, *process.children(recursive=True)])


def measure(port: int, process: psutil.Process, path: str, seconds: float) -> tuple[float, float]:
    """Return requests per second and microseconds of server CPU per request."""
    before = cpu_seconds(process)
    rate = throughput(port, "GET", path, seconds, concurrency=8)
    return rate, (cpu_seconds(process) - before) / (rate * seconds) * 1e6


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    apps = ["sandbox", "flask"]
    if importlib.util.find_spec("httpbin") is not None:
        apps.append("httpbin")
    else:
        print("httpbin is not installed: its rows are left out (pip install httpbin)")
    servers = ["waitress"]
    if importlib.util.find_spec("granian") is not None:
        servers.append("granian")
    else:
        print("granian is not installed: its rows are left out (pip install granian)")
    results: dict[tuple[str, str], tuple[float, float]] = {}
    landing: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as name:
        for server in servers:
            samples: dict[str, list[tuple[float, float]]] = {app: [] for app in apps}
            with contextlib_stack(apps, server, Path(name)) as running:
                for app, (port, _) in running.items():
                    throughput(port, "GET", PATHS[app], 0.5, concurrency=8)  # warm up
                for _ in range(3):  # rounds, each app in turn
                    for app, (port, process) in running.items():
                        samples[app].append(measure(port, process, PATHS[app], seconds))
                # The landing page (a template with every module's card): no other app has one.
                port, process = running["sandbox"]
                landing[server] = measure(port, process, "/", seconds)
            for app, values in samples.items():
                results[(app, server)] = (
                    statistics.median(v[0] for v in values),
                    statistics.median(v[1] for v in values),
                )
    print(f"\n{'app':<9}{'server':<10}{'path':<13}{'requests/s':>11}{'CPU/request':>14}")
    for (app, server), (rate, cpu) in results.items():
        print(f"{app:<9}{server:<10}{PATHS[app]:<13}{rate:11.0f}{cpu:11.0f} us")
    for server, (rate, cpu) in landing.items():
        print(
            f"{'sandbox':<9}{server:<10}{'/ (landing)':<13}{rate:11.0f}{cpu:11.0f} us"
            "   (goal: landing page >= 500 requests/s)"
        )
    print()
    for server in servers:
        ours_rate, ours_cpu = results[("sandbox", server)]
        for other, goal in GOALS.items():
            if (other, server) in results:
                rate, cpu = results[(other, server)]
                print(
                    f"under {server:<8}: sandbox / {other:<7} throughput {ours_rate / rate:.2f}, "
                    f"CPU-bound {cpu / ours_cpu:.2f}  (goal >= {goal})"
                )
    if "granian" in servers:
        for app in apps:
            w, g = results[(app, "waitress")], results[(app, "granian")]
            print(
                f"{app:<8}: granian / waitress throughput {g[0] / w[0]:.2f}, "
                f"CPU per request {g[1] / w[1]:.2f}"
            )
        print(SERVER_CHOICE)


# Why the default stays waitress although granian serves more requests per second: what
# each server was checked for besides speed (tried by hand on this machine, 2026-12-01).
SERVER_CHOICE = """
server choice: waitress stays the default for now.
  granian streams the live feed and closes a finished stream within a write, but it
  still holds one of its blocking threads per open feed (8 threads, 10 feeds: a quick
  request waited 2.0 s), so it does not remove the thread per tab either; it tells a
  waiting answer nothing when the client leaves (waitress.client_disconnected frees a
  delay's or a feed's slot within 0.25 s; under granian only the next write notices);
  it runs the app in processes it starts itself from an import path, so Sandbox.start()
  in a notebook, the --https server and the X-Forwarded-* handling behind JupyterLab
  would each need porting and their tests a second server. Worth it for the measured
  throughput above, as a change of its own."""


@contextmanager
def contextlib_stack(apps: list[str], server: str, data_dir: Path):
    """Serve every app with one server at once; yield {app: (port, process)}."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        yield {
            app: stack.enter_context(served(app, server, data_dir / f"{app}-{server}"))
            for app in apps
        }


if __name__ == "__main__":
    main()
