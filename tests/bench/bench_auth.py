"""Auth benchmark: what a login costs with scrypt, and what checking who asks costs per request.

Run: python tests/bench/bench_auth.py
Prints, against a `python app.py` process (waitress): the median latency of a
successful login over HTTP, of a failed one for a known and an unknown user (the two
should match: the answer must not tell them apart by time), and of GET /api/notes/<id>
with auth off, with a session cookie and with a bearer token. Then the cost of one
hash, scrypt against SHA-256, in this process.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import sandbox_process  # noqa: E402

PASSWORD = "correct horse battery"
JSON = {"Content-Type": "application/json"}


def call(conn: http.client.HTTPConnection, method: str, path: str, body=None, headers=None):
    """Send one request on a kept-alive connection; return (status, headers, body)."""
    conn.request(
        method,
        path,
        body=json.dumps(body) if body is not None else None,
        headers={**(JSON if body is not None else {}), **(headers or {})},
    )
    response = conn.getresponse()
    return response.status, response, response.read()


def median_ms(conn, runs: int, method: str, path: str, body=None, headers=None, status=200):
    """Return the median milliseconds of ``runs`` identical requests."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        got, _, text = call(conn, method, path, body, headers)
        times.append((time.perf_counter() - started) * 1000)
        assert got == status, (got, text[:200])
    return statistics.median(times)


def per_hash(function, runs: int) -> float:
    """Return the median seconds of one call, over ``runs`` calls."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as name, sandbox_process(Path(name) / "data") as (port, _):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        off = median_ms(conn, 200, "GET", "/api/notes/1")
        call(conn, "PATCH", "/sandbox/modules/auth", {"enabled": True})
        status, response, _ = call(
            conn, "POST", "/auth/register", {"username": "alice", "password": PASSWORD}
        )
        assert status == 201, status
        cookie = {"Cookie": response.getheader("Set-Cookie").split(";")[0]}
        _, _, made = call(conn, "POST", "/auth/tokens", {"name": "bench", "scope": "write"}, cookie)
        bearer = {"Authorization": "Bearer " + json.loads(made)["token"]}
        note = json.loads(call(conn, "POST", "/api/notes", {"title": "bench"}, cookie)[2])["id"]

        login = {"username": "alice", "password": PASSWORD}
        ok = median_ms(conn, 20, "POST", "/auth/login", login)
        # 4 failures each: under the throttle's 5 per account and 300 per address.
        wrong = median_ms(
            conn, 4, "POST", "/auth/login", {**login, "password": "wrong one!"}, status=401
        )
        unknown = median_ms(
            conn, 4, "POST", "/auth/login", {**login, "username": "nobody"}, status=401
        )
        session = median_ms(conn, 200, "GET", f"/api/notes/{note}", headers=cookie)
        token = median_ms(conn, 200, "GET", f"/api/notes/{note}", headers=bearer)
        conn.close()

    print(f"login (scrypt), median of 20 over HTTP:     {ok:7.1f} ms")
    print(f"failed login, wrong password, median of 4:  {wrong:7.1f} ms")
    print(
        f"failed login, unknown user, median of 4:    {unknown:7.1f} ms"
        f"  (ratio {unknown / wrong:.2f}; 1.00 means time tells nothing)"
    )
    print(f"GET /api/notes/<id>, auth off:              {off:7.2f} ms")
    print(f"GET /api/notes/<id>, session cookie:        {session:7.2f} ms")
    print(f"GET /api/notes/<id>, bearer token:          {token:7.2f} ms")

    from werkzeug.security import generate_password_hash

    scrypt = per_hash(lambda: generate_password_hash(PASSWORD, method="scrypt"), 10)
    sha = per_hash(lambda: hashlib.sha256(PASSWORD.encode()).hexdigest(), 100_000)
    print(f"one scrypt hash:   {scrypt * 1e3:10.3f} ms  ({1 / scrypt:>13,.0f} guesses/s per core)")
    print(f"one SHA-256 hash:  {sha * 1e3:10.5f} ms  ({1 / sha:>13,.0f} guesses/s per core)")
    print(f"scrypt / SHA-256:  {scrypt / sha:10,.0f} times slower")


if __name__ == "__main__":
    main()
