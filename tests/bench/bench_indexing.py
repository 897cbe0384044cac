"""The indexing module: what an index saves, what it costs, and what the module costs.

Run: python tests/bench/bench_indexing.py [seconds per measurement, default 2]
         [orders, default 200000] [notes, default 30000]
Starts `python app.py` and, in one run:
- a customer's orders (GET /indexing/orders?customer=...) over 200,000 orders: the
  statement's time from its record and the whole request's, with no index (SCAN) and
  with an index on customer (SEARCH); index / scan;
- inserting 20,000 orders with no index on the table and with one, alternately;
- the notes list (GET /api/notes) over 30,000 notes, a class's worth (30 students x
  1,000), with the module on (the sandbox's indexes) and off (dropped);
- what the module costs when on: the plan it asks for each SELECT of a record, on a
  request that runs one (GET /api/notes/1, which reads by primary key, the same plan on
  or off) and on one that runs none (GET /server/get): server CPU per request, on / off.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.common import compare, sandbox_process  # noqa: E402


def call(port: int, method: str, path: str, body: dict | None = None) -> tuple[float, dict, dict]:
    """Send one request; return its milliseconds, headers and JSON answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    started = time.perf_counter()
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status < 400, (method, path, response.status, data[:300])
    return elapsed, dict(response.getheaders()), json.loads(data) if data else {}


def statement_ms(port: int, headers: dict, starts: str) -> float:
    """Return the time of the statement that starts with ``starts``, from the record."""
    _, _, record = call(port, "GET", f"/sandbox/traces/{headers['X-Sandbox-Trace']}")
    return next(s["duration_ms"] for s in record["sql"] if s["sql"].startswith(starts))


def timed(port: int, path: str, starts: str, n: int) -> tuple[float, float, list[str]]:
    """Ask ``n`` times; return the median statement ms, the median request ms, the plan."""
    statements, requests, plan = [], [], []
    for _ in range(n):
        ms, headers, answer = call(port, "GET", path)
        requests.append(ms)
        statements.append(statement_ms(port, headers, starts))
        plan = answer.get("plan") or plan
    return statistics.median(statements), statistics.median(requests), plan


def switch(port: int, on: bool) -> None:
    call(port, "PATCH", "/sandbox/modules/indexing", {"enabled": on})


def lookups(port: int, orders: int) -> None:
    for start in range(0, orders, 50_000):
        call(
            port, "POST", "/indexing/orders", {"count": min(50_000, orders - start), "seed": start}
        )
    path = "/indexing/orders?customer=c0042"
    scan = timed(port, path, "select id", 5)
    call(port, "POST", "/indexing/indexes", {"table": "orders", "columns": ["customer"]})
    search = timed(port, path, "select id", 20)
    print(f"a customer's orders among {orders:,} (GET {path}), median ms:")
    for label, (statement, request, plan) in (("no index", scan), ("index", search)):
        print(f"  {label:<9} statement {statement:8.3f}  request {request:8.2f}   {plan[0]}")
    print(
        f"  speed-up index / scan: statement {scan[0] / search[0]:.0f}x, "
        f"request {scan[1] / search[1]:.0f}x  (the indexing.fast_search challenge asks 100x "
        "of the statement)"
    )
    call(port, "DELETE", "/indexing/indexes/ix_local_orders_customer")


def inserts(port: int, rounds: int = 3, count: int = 20_000) -> None:
    times: dict[bool, list[float]] = {False: [], True: []}
    for n in range(rounds):
        for with_index in (False, True):
            if with_index:
                call(
                    port, "POST", "/indexing/indexes", {"table": "orders", "columns": ["customer"]}
                )
            _, _, answer = call(port, "POST", "/indexing/orders", {"count": count, "seed": n})
            times[with_index].append(answer["insert_ms"])
            if with_index:
                call(port, "DELETE", "/indexing/indexes/ix_local_orders_customer")
    plain, indexed = statistics.median(times[False]), statistics.median(times[True])
    print(f"inserting {count:,} orders in one transaction, median of {rounds} (ms):")
    print(f"  no index on orders {plain:8.1f}   an index on customer {indexed:8.1f}")
    print(f"  insert cost with / without the extra index: {indexed / plain:.2f}x")


def notes_list(port: int, notes: int) -> None:
    for start in range(0, notes, 5000):
        call(port, "POST", "/caching/notes", {"count": min(5000, notes - start), "seed": start})
    results = {}
    for on in (True, False, True, False):  # alternated: a busy neighbour slows both alike
        switch(port, on)
        results.setdefault(on, []).append(timed(port, "/api/notes", "select *", 10))
    print(f"the notes list (GET /api/notes) over {notes:,} notes, median ms:")
    for on, label in ((True, "on "), (False, "off")):
        statement = statistics.median(r[0] for r in results[on])
        request = statistics.median(r[1] for r in results[on])
        print(f"  indexing {label} statement {statement:8.3f}  request {request:8.2f}")
    on_ms = [statistics.median(r[i] for r in results[True]) for i in (0, 1)]
    off_ms = [statistics.median(r[i] for r in results[False]) for i in (0, 1)]
    print(
        f"  slow-down off / on: statement {off_ms[0] / on_ms[0]:.0f}x, "
        f"request {off_ms[1] / on_ms[1]:.0f}x"
    )
    switch(port, True)


def module_cost(port: int, pid: int, seconds: float) -> None:
    for label, path in (("a request with SQL", "/api/notes/1"), ("one without", "/server/get")):
        measured = {}
        for on in (True, False):
            switch(port, on)
            result = compare({"x": port}, "GET", path, rounds=3, seconds=seconds, pids={"x": pid})
            measured[on] = (result["x"], result["x cpu_us"])
        (on_rate, on_cpu), (off_rate, off_cpu) = measured[True], measured[False]
        print(
            f"{label} (GET {path}): on {on_rate:.0f} req/s, {on_cpu:.0f} us CPU; "
            f"off {off_rate:.0f} req/s, {off_cpu:.0f} us CPU; CPU per request on/off "
            f"{on_cpu / off_cpu:.2f}"
        )
    switch(port, True)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    orders = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    notes = int(sys.argv[3]) if len(sys.argv) > 3 else 30_000
    with (
        tempfile.TemporaryDirectory() as name,
        sandbox_process(Path(name), "SANDBOX_INDEXING_MAX_ORDERS = 1_000_000\n") as (port, process),
    ):
        lookups(port, orders)
        inserts(port, count=min(20_000, orders // 10))
        notes_list(port, notes)
        module_cost(port, process.pid, seconds)


if __name__ == "__main__":
    main()
