"""Encryption benchmark: what encrypting note bodies costs, and how long switching it on takes.

Run: python tests/bench/bench_encryption.py
Prints requests per second (and server CPU per request) for GET /api/notes?limit=20 and
POST /api/notes under waitress, with encryption on and off (as a ratio), on a database of
10,000 notes, and the time PATCH /sandbox/modules/encryption takes to encrypt all of them
in one transaction, scrub included.
"""

from __future__ import annotations

import http.client
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_api import NOTES, seed  # noqa: E402
from tests.bench.common import compare, report, sandbox_process  # noqa: E402

NAMES = ("encryption on", "encryption off")


def switch(port: int, enabled: bool) -> tuple[float, dict]:
    """Switch encryption; return the seconds it took and the request's record."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request(
        "PATCH",
        "/sandbox/modules/encryption",
        body=json.dumps({"enabled": enabled}),
        headers={"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    response.read()
    seconds = time.perf_counter() - started
    assert response.status == 200, response.status
    conn.request("GET", f"/sandbox/traces/{response.getheader('X-Sandbox-Trace')}")
    return seconds, json.loads(conn.getresponse().read())


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for folder in ("on", "off"):
            seed(tmp / folder)
        with (
            sandbox_process(tmp / "on") as (on, p_on),
            sandbox_process(tmp / "off") as (off, p_off),
        ):
            seconds, record = switch(on, True)
            size = (tmp / "on" / "sandbox.db").stat().st_size / 1e6
            print(
                f"Switching encryption on over {NOTES + 3} notes: {seconds:.2f} s "
                f"(one transaction, then VACUUM and WAL truncation; database now {size:.1f} MB)"
            )
            for event in record["events"]:
                print(f"    {event['message']}")
            ports = {NAMES[0]: on, NAMES[1]: off}
            pids = {NAMES[0]: p_on.pid, NAMES[1]: p_off.pid}
            report(
                "GET  /api/notes?limit=20",
                compare(ports, "GET", "/api/notes?limit=20", pids=pids),
                NAMES,
                goal="",
            )
            body = json.dumps({"title": "bench", "body": "a note body of some length " * 20})
            report(
                "POST /api/notes         ",
                compare(
                    ports,
                    "POST",
                    "/api/notes",
                    pids=pids,
                    body=body.encode(),
                    headers={"Content-Type": "application/json"},
                ),
                NAMES,
                goal="",
            )
            seconds, _ = switch(on, False)
            print(f"Switching encryption off again (decrypting every note): {seconds:.2f} s")


if __name__ == "__main__":
    main()
