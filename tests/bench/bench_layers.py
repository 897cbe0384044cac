"""Where a request's time goes: the sandbox's /server/get with each layer taken away in turn.

Run: python tests/bench/bench_layers.py [rounds, default 25]
No server and no network: each app answers requests handed to it directly (a WSGI call),
so only the app's own work is measured, not waitress's or the load generator's. Each
configuration runs 200 requests per round, all configurations in turn, and keeps the
fastest round of each in CPU time of this thread: a busy neighbour can only make a round
slower, never faster, so the fastest is the least disturbed. It prints microseconds per
request, the Python function calls per request (a count, so steady on any machine), and
what each layer costs: the configuration with it minus the one without.

The layers (each an ordinary part of the sandbox; taking one away is for measuring only):
- records: every request's record (headers, spans, the live feed) and what reads it after
- challenge checks: every unsolved challenge looking at each finished record
- log line: the logging module's line for each record (a plain line while it is off)
- guard: the Host, Origin and operator-token checks
- gate: which modules are on, and their before/after hooks
"""

from __future__ import annotations

import cProfile
import io
import logging
import pstats
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from werkzeug.test import EnvironBuilder  # noqa: E402

from tests.bench.bare import bare_flask  # noqa: E402

HEADERS = {"User-Agent": "bench", "Accept": "*/*", "Host": "127.0.0.1:5000"}


def caller(app, path: str) -> Callable[[], None]:
    """Return a function that hands ``app`` one GET of ``path`` and reads the whole answer."""
    environ = EnvironBuilder(path=path, headers=HEADERS).get_environ()

    def one() -> None:
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(b"")
        status = []
        body = app(env, lambda s, h, e=None: status.append(s))
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        assert status[0].startswith("200"), status

    return one


def sandbox(without: str = ""):
    """Return the sandbox as python app.py makes it, with one layer taken away."""
    from sandbox import create_app

    app = create_app({"SANDBOX_DATA_DIR": tempfile.mkdtemp(prefix="bench-layers-")})
    listeners = app.extensions["sandbox.record_listeners"]
    if without == "records":
        app.config["SANDBOX_RECORDS"] = False
    elif without == "challenge checks":
        listeners[:] = [f for f in listeners if "progress" not in f.__code__.co_filename]
    elif without == "log line":
        listeners[:] = [f for f in listeners if "logging" not in f.__code__.co_filename]
    elif without == "guard":
        hooks = app.before_request_funcs[None]
        hooks[:] = [f for f in hooks if f.__name__ != "guard"]
    elif without == "gate":
        for hooks in (app.before_request_funcs[None], app.after_request_funcs[None]):
            hooks[:] = [f for f in hooks if "registry" not in f.__code__.co_filename]
    return app


def calls_per_request(one: Callable[[], None], n: int = 300) -> float:
    """Return how many Python function calls one request makes (cProfile counts them)."""
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(n):
        one()
    profile.disable()
    return pstats.Stats(profile).total_calls / n


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 25
    logging.disable(logging.WARNING)  # the sandbox's start-up notes are not the point here
    layers = ["records", "challenge checks", "log line", "guard", "gate"]
    apps = {"bare Flask /get": caller(bare_flask(), "/get")}
    apps["sandbox /server/get"] = caller(sandbox(), "/server/get")
    for layer in layers:
        apps[f"  without {layer}"] = caller(sandbox(layer), "/server/get")
    try:
        from tests.bench.bare import httpbin_app

        apps["httpbin /get"] = caller(httpbin_app(), "/get")
    except ImportError:
        print("(httpbin is not installed: pip install httpbin to add its row)")
    for one in apps.values():  # warm up: imports, caches, a full record buffer
        for _ in range(300):
            one()
    best = {name: float("inf") for name in apps}
    for _ in range(rounds):
        for name, one in apps.items():
            seconds = min(timeit.repeat(one, number=200, repeat=1, timer=time.thread_time))
            best[name] = min(best[name], seconds / 200 * 1e6)
    calls = {name: calls_per_request(one) for name, one in apps.items()}

    print(f"{'app':28s} {'us/request':>10s} {'calls/request':>14s}")
    for name in apps:
        print(f"{name:28s} {best[name]:10.0f} {calls[name]:14.0f}")
    whole = best["sandbox /server/get"]
    print("\nwhat each layer costs (with it minus without it):")
    for layer in layers:
        cost = whole - best[f"  without {layer}"]
        share = cost / whole * 100
        print(f"  {layer:18s} {cost:6.0f} us  {share:4.0f}% of the request")
    flask = best["bare Flask /get"]
    print(f"\nsandbox / bare Flask, app time only: {flask / whole:.2f} (throughput ratio)")
    if "httpbin /get" in best:
        print(f"sandbox / httpbin, app time only: {best['httpbin /get'] / whole:.2f}")


if __name__ == "__main__":
    main()
