"""A flood: one client sending the same request at a steady rate, whatever the answers say.

For the lesson, not for anyone else's server. Run it in a process of its own, as an
abusive client on another machine would be:

    python -m sandbox.modules.ratelimit.flood http://127.0.0.1:5000/api/notes?limit=100 \\
        --rate 200 --seconds 5 --token sbt_...

It keeps its pace from several connections and never waits for Retry-After; a connection
that gets its answer late sends the next request at once. At the end it prints, as JSON,
how many answers of each status it got.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from urllib.parse import urlsplit


def connection(url: str, headers: dict, every: float, phase: float, until: float, counts: dict):
    """Send a GET every ``every`` seconds (at once when late) until ``until``; count statuses."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    next_at = time.perf_counter() + phase  # the connections take turns, not all at once
    time.sleep(phase)
    while time.perf_counter() < until:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        counts[response.status] = counts.get(response.status, 0) + 1  # the GIL keeps it whole
        next_at = max(next_at + every, time.perf_counter())
        time.sleep(max(0.0, next_at - time.perf_counter()))
    conn.close()


def flood(
    url: str, rate: float, seconds: float, connections: int = 8, headers: dict | None = None
) -> dict[int, int]:
    """Send ``rate`` GETs a second to ``url`` for ``seconds``; return {status: count}."""
    counts: dict[int, int] = {}
    every = connections / rate
    until = time.perf_counter() + seconds
    threads = [
        threading.Thread(
            target=connection,
            args=(url, headers or {}, every, every * i / connections, until, counts),
        )
        for i in range(connections)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, default=100, help="requests a second")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--token", help="a bearer token: whose requests these are")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    counts = flood(args.url, args.rate, args.seconds, args.connections, headers)
    print(json.dumps({str(status): n for status, n in sorted(counts.items())}))


if __name__ == "__main__":
    main()
