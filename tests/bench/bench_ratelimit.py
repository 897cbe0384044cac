"""The ratelimit module: what one client's flood does to another's latency, off and on.

Run: python tests/bench/bench_ratelimit.py [seconds per measurement, default 5]
Starts `python app.py` (waitress), switches auth on and makes two users with a token each:
mallory, who floods GET /api/notes?limit=100 (a page of her 1,000 notes) from 16
connections in a process of her own, at half as many requests again as the server can
answer, and never waits for Retry-After; and victor, a well-behaved client who reads
one note 20 times a second. Then, in one run:

- victor alone; victor during the flood with the module off; during the flood with it on
  (30/second per user: victor's 20 fit, mallory's flood is refused with 429s). For each:
  victor's median and 99th-percentile request time, and what the flood got through;
- the module's cost per request when on, for a request under its limit (GET /server/get,
  the guest, 8 connections): requests per second and server CPU per request, on / off.
"""

from __future__ import annotations

import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import ROOT, compare, sandbox_process  # noqa: E402

PASSWORD = "correct horse battery staple"
VICTOR_EVERY = 0.05  # seconds between victor's requests: 20 a second
LIMIT = "30/second"  # per user while the module is on: more than victor needs
FLOODERS = 16  # mallory's connections
OVERLOAD = 1.5  # mallory's rate, times what the server can answer of her request


def call(port: int, method: str, path: str, body: dict | None = None, token: str = "") -> dict:
    """Send one request that must succeed; return its JSON (or {})."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    assert response.status < 400, (method, path, response.status, data[:300])
    return json.loads(data) if data else {}


def user(port: int, name: str) -> str:
    """Register a user and return a write token of theirs."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    account = json.dumps({"username": name, "password": PASSWORD})
    conn.request(
        "POST", "/auth/register", body=account, headers={"Content-Type": "application/json"}
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 201, response.status
    cookie = response.getheader("Set-Cookie").split(";")[0]
    conn.request(
        "POST",
        "/auth/tokens",
        body=json.dumps({"name": "bench", "scope": "write"}),
        headers={"Content-Type": "application/json", "Cookie": cookie},
    )
    response = conn.getresponse()
    token = json.loads(response.read())["token"]
    return token


def flood(port: int, token: str, rate: float, seconds: float) -> subprocess.Popen:
    """Start mallory in a process of her own (sandbox/modules/ratelimit/flood.py).

    Not threads of this process: their share of its GIL would delay victor's own timing.
    """
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.modules.ratelimit.flood",
            f"http://127.0.0.1:{port}/api/notes?limit=100",
            *("--rate", str(rate), "--seconds", str(seconds)),
            *("--connections", str(FLOODERS), "--token", token),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def victim(port: int, token: str, path: str, seconds: float) -> list[float]:
    """Send one request every VICTOR_EVERY seconds for ``seconds``; return each one's ms."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    next_at = time.perf_counter()
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 200, response.status  # victor is never limited
        times.append((time.perf_counter() - started) * 1000)
        next_at = max(next_at + VICTOR_EVERY, time.perf_counter())  # late: no catching up
        time.sleep(max(0.0, next_at - time.perf_counter()))
    return times


def measure(port: int, tokens: dict, path: str, seconds: float, flood_rate: float) -> dict:
    """Run victor for ``seconds`` while mallory floods at ``flood_rate`` requests/s (0: not)."""
    mallory = flood(port, tokens["mallory"], flood_rate, seconds + 1) if flood_rate else None
    time.sleep(0.5 if flood_rate else 0)  # the flood is under way
    times = victim(port, tokens["victor"], path, seconds)
    counts = json.loads(mallory.communicate(timeout=120)[0]) if mallory else {}
    return {
        "median": statistics.median(times),
        "p99": statistics.quantiles(times, n=100)[98],
        "served": counts.get("200", 0) / (seconds + 1),
        "refused": counts.get("429", 0) / (seconds + 1),
    }


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    with tempfile.TemporaryDirectory() as name, sandbox_process(Path(name)) as (port, process):
        call(port, "PATCH", "/sandbox/modules/auth", {"enabled": True})
        tokens = {who: user(port, who) for who in ("mallory", "victor")}
        call(port, "POST", "/caching/notes", {"count": 1000}, token=tokens["mallory"])
        note = call(port, "POST", "/api/notes", {"title": "victor's"}, token=tokens["victor"])
        path = f"/api/notes/{note['id']}"
        call(port, "PATCH", "/sandbox/modules/ratelimit", {"enabled": True})
        call(port, "PATCH", "/ratelimit/settings", {"limit": LIMIT})
        call(port, "PATCH", "/sandbox/modules/ratelimit", {"enabled": False})
        # How many of mallory's requests the server can answer in a second, on this machine
        # now: she will send half as many again, more than it can answer.
        capacity = compare(
            {"x": port},
            "GET",
            "/api/notes?limit=100",
            rounds=1,
            seconds=min(seconds, 2.0),
            concurrency=4,
            headers={"Authorization": f"Bearer {tokens['mallory']}"},
        )["x"]
        rate = OVERLOAD * capacity
        results = {}
        for label, on, flood_rate in (
            ("victor alone", False, 0),
            ("flood, ratelimit off", False, rate),
            (f"flood, ratelimit on ({LIMIT})", True, rate),
        ):
            call(port, "PATCH", "/sandbox/modules/ratelimit", {"enabled": on})
            results[label] = measure(port, tokens, path, seconds, flood_rate)
        print(
            f"the server answers {capacity:.0f} GET /api/notes?limit=100 a second; mallory "
            f"sends {rate:.0f} a second from {FLOODERS} connections, while victor reads one "
            f"note 20 times a second (GET {path}); {seconds:g} s each:"
        )
        print(f"  {'':34} {'median':>8} {'p99':>8}   mallory's requests/s: served, refused")
        for label, r in results.items():
            print(
                f"  {label:34} {r['median']:6.1f}ms {r['p99']:6.1f}ms"
                f"   {r['served']:8.0f} {r['refused']:8.0f}"
            )
        off, on = results["flood, ratelimit off"], results[f"flood, ratelimit on ({LIMIT})"]
        alone = results["victor alone"]
        print(
            f"victor's p99 during the flood, off / on: {off['p99'] / on['p99']:.1f}x "
            f"(alone: {alone['p99']:.1f} ms; off is {off['p99'] / alone['p99']:.1f}x alone, "
            f"on {on['p99'] / alone['p99']:.1f}x)"
        )

        # The module's cost: the guest (auth off), a limit far above what the load sends.
        call(port, "PATCH", "/sandbox/modules/auth", {"enabled": False})
        call(port, "PATCH", "/ratelimit/settings", {"limit": "10000/second"})
        rates = {}
        for state in (True, False):
            call(port, "PATCH", "/sandbox/modules/ratelimit", {"enabled": state})
            measured = compare(
                {"x": port},
                "GET",
                "/server/get",
                rounds=3,
                seconds=min(seconds, 2.0),
                pids={"x": process.pid},
                concurrency=8,
            )
            rates[state] = (measured["x"], measured["x cpu_us"])
        (on_rate, on_cpu), (off_rate, off_cpu) = rates[True], rates[False]
        print(
            f"cost when on (GET /server/get, under the limit): on {on_rate:.0f} req/s, "
            f"{on_cpu:.0f} us CPU; off {off_rate:.0f} req/s, {off_cpu:.0f} us CPU; "
            f"CPU per request on/off {on_cpu / off_cpu:.2f}"
        )


if __name__ == "__main__":
    main()
