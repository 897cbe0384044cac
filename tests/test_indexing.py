"""The indexing module: orders to search, learner indexes, a plan on every SELECT of a record.

Each test looks where a learner would: the plan in the record (SCAN or SEARCH), the
statement's time, the indexes the database really has (sqlite_master), the challenges.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from helpers import is_problem

from sandbox import create_app, db
from sandbox.db import database_path
from sandbox.modules.indexing.orders import SLOW, generated
from sandbox.registry import shutdown

# The sandbox's own indexes: every "create index" of the core's and the modules' schema.sql,
# read here independently of the module (a new module's index joins without a test edit).
SANDBOX_INDEXES = {
    match
    for path in (Path(__file__).resolve().parents[1] / "sandbox").rglob("schema.sql")
    for match in re.findall(
        r"create\s+(?:unique\s+)?index\s+if\s+not\s+exists\s+(\w+)",
        path.read_text(encoding="utf-8"),
        re.I,
    )
}


def record(client, response) -> dict:
    return client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json


def statement(client, response, sql: str = SLOW) -> dict:
    return next(s for s in record(client, response)["sql"] if s["sql"] == sql)


def indexes_in(app) -> set[str]:
    """Return the indexes the database file really has (not what any API says)."""
    with sqlite3.connect(database_path(app)) as conn:
        rows = conn.execute("select name from sqlite_master where type = 'index'").fetchall()
    return {name for (name,) in rows if not name.startswith("sqlite_")}


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def test_on_by_default_and_every_select_in_a_record_carries_its_plan(client):
    response = client.get("/api/notes")
    reads = [s for s in record(client, response)["sql"] if s["sql"].startswith("select")]
    assert len(reads) == 2
    for read in reads:
        assert read["plan"][0].startswith("SEARCH notes USING"), read
    writes = record(client, client.post("/api/notes", json={"title": "x"}))["sql"]
    assert not any("plan" in s for s in writes if not s["sql"].startswith("select"))


def test_a_plan_follows_the_indexes_as_they_come_and_go(client):
    client.post("/indexing/orders", json={"count": 2000, "seed": 3})
    scan = client.get("/indexing/orders?customer=c0042")
    assert statement(client, scan)["plan"] == ["SCAN orders", "USE TEMP B-TREE FOR ORDER BY"]
    assert scan.json["plan"] == statement(client, scan)["plan"]  # the answer says it too
    made = client.post("/indexing/indexes", json={"table": "orders", "columns": ["customer"]})
    assert made.status_code == 201 and made.json["name"] == "ix_local_orders_customer"
    search = client.get("/indexing/orders?customer=c0042")
    assert statement(client, search)["plan"][0] == (
        "SEARCH orders USING INDEX ix_local_orders_customer (customer=?)"
    )
    assert search.json["rows"] == scan.json["rows"]  # the same answer, found another way
    assert client.delete("/indexing/indexes/ix_local_orders_customer").status_code == 204
    again = client.get("/indexing/orders?customer=c0042")
    assert statement(client, again)["plan"][0] == "SCAN orders"  # not a stale plan


def test_a_composite_index_in_the_right_order_also_skips_the_sort(client):
    client.post("/indexing/orders", json={"count": 2000})
    columns = ["customer", "created_at"]
    client.post("/indexing/indexes", json={"table": "orders", "columns": columns})
    plan = client.get("/indexing/orders?customer=c0042").json["plan"]
    assert plan == ["SEARCH orders USING INDEX ix_local_orders_customer_created_at (customer=?)"]
    client.post(
        "/indexing/indexes",
        json={"table": "orders", "columns": ["customer", "workspace", "amount"]},
    )
    total = client.get("/indexing/orders/total?customer=c0042")
    assert total.json["plan"] == [
        "SEARCH orders USING COVERING INDEX ix_local_orders_customer_workspace_amount "
        "(customer=? AND workspace=?)"
    ]


def test_off_drops_the_sandboxs_indexes_and_the_notes_list_scans(app, client):
    assert indexes_in(app) >= SANDBOX_INDEXES
    client.post("/indexing/orders", json={"count": 100})
    client.post("/indexing/indexes", json={"table": "orders", "columns": ["status"]})
    off = client.patch("/sandbox/modules/indexing", json={"enabled": False})
    assert off.status_code == 200
    assert indexes_in(app) == set()  # the sandbox's and the learner's: no index at all
    listed = record(client, client.get("/api/notes"))["sql"]
    assert listed and not any("plan" in s for s in listed)  # off: no plans either
    with sqlite3.connect(database_path(app)) as conn:
        plan = conn.execute(
            "explain query plan select * from notes where workspace = ? order by created_at",
            ["local"],
        ).fetchall()
    assert plan[0][3] == "SCAN notes"
    is_problem(client.get("/indexing/indexes"), 404)  # indexes are made with the module on
    assert client.get("/indexing/orders?status=paid").status_code == 200  # questions: still
    client.patch("/sandbox/modules/indexing", json={"enabled": True})
    assert indexes_in(app) == SANDBOX_INDEXES  # the sandbox's come back; the learner's do not


def test_off_stays_off_across_a_restart(tmp_path):
    config = {"SANDBOX_DATA_DIR": str(tmp_path / "data")}
    app = create_app(config)
    app.test_client().patch("/sandbox/modules/indexing", json={"enabled": False})
    shutdown(app)
    again = create_app(config)  # the core's schema.sql makes its indexes at every start
    try:
        assert indexes_in(again) == set()
        again.test_client().get("/sandbox/health")
        assert indexes_in(again) == set()
    finally:
        shutdown(again)


def test_a_reset_drops_orders_and_your_indexes_and_brings_the_sandboxs_back(app, client):
    client.post("/indexing/orders", json={"count": 500})
    client.post("/indexing/indexes", json={"table": "orders", "columns": ["product"]})
    client.patch("/sandbox/modules/indexing", json={"enabled": False})
    assert client.post("/sandbox/reset").status_code == 200
    assert indexes_in(app) == SANDBOX_INDEXES  # a reset switches indexing back on
    assert client.get("/indexing/orders/total?customer=c0042").json["rows"] == [
        {"orders": 0, "spent": 0}
    ]
    assert client.get("/indexing/indexes").json["indexes"][0]["owner"] == "sandbox"


def test_the_list_says_each_indexs_size_and_where_it_came_from(client):
    client.post("/indexing/orders", json={"count": 5000})
    client.post("/indexing/indexes", json={"table": "orders", "columns": ["customer"]})
    client.post(
        "/indexing/indexes", json={"table": "orders", "columns": ["customer", "created_at"]}
    )
    listed = client.get("/indexing/indexes").json
    assert listed["size_from"].startswith("dbstat")
    sizes = {i["name"]: i["bytes"] for i in listed["indexes"] if i["owner"] == "you"}
    one, two = sizes["ix_local_orders_customer"], sizes["ix_local_orders_customer_created_at"]
    assert 4096 <= one < two  # a second column makes every entry longer
    sandbox = [i for i in listed["indexes"] if i["owner"] == "sandbox"]
    assert {i["name"] for i in sandbox} == SANDBOX_INDEXES
    assert not any(i["droppable"] for i in sandbox)


def test_the_same_seed_makes_the_same_orders():
    assert generated(1000, 7, "w") == generated(1000, 7, "w")
    assert generated(1000, 7, "w") != generated(1000, 8, "w")
    statuses = [row[3] for row in generated(20_000, 1, "w")]
    assert 0.67 < statuses.count("delivered") / len(statuses) < 0.73  # skewed, as documented
    assert 0.01 < statuses.count("refunded") / len(statuses) < 0.03


def test_200000_orders_are_made_in_a_few_seconds_and_counted(client):
    response = client.post("/indexing/orders", json={"count": 200_000, "seed": 1})
    assert response.status_code == 201 and response.json["total"] == 200_000
    assert response.json["took_ms"] < 10_000
    inserted = statement(client, response, response_sql(client, response))
    assert inserted["rows"] == 200_000 and inserted["duration_ms"] == response.json["insert_ms"]


def response_sql(client, response) -> str:
    return next(s["sql"] for s in record(client, response)["sql"] if s["sql"].startswith("insert"))


def test_every_challenge_can_be_solved(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    try:
        client.post("/indexing/orders", json={"count": 200_000, "seed": 1})
        scans = [client.get("/indexing/orders?customer=c0042") for _ in range(2)]
        assert all(statement(client, r)["plan"][0] == "SCAN orders" for r in scans)
        # The wrong order: the customer column is there, but second. Still a scan.
        columns = ["status", "customer"]
        client.post("/indexing/indexes", json={"table": "orders", "columns": columns})
        wrong = client.get("/indexing/orders?customer=c0042")
        assert statement(client, wrong)["plan"][0] == "SCAN orders"
        assert "indexing.wrong_order" in solved(client)
        client.delete("/indexing/indexes/ix_local_orders_status_customer")
        # The insert cost: the same 20,000 orders without an index of yours, then with one.
        without = client.post("/indexing/orders", json={"count": 20_000, "seed": 2})
        client.post("/indexing/indexes", json={"table": "orders", "columns": ["customer"]})
        assert "indexing.insert_cost" not in solved(client)
        with_one = client.post("/indexing/orders", json={"count": 20_000, "seed": 2})
        assert (without.json["indexes"], with_one.json["indexes"]) == (
            [],
            ["ix_local_orders_customer"],
        )
        assert "indexing.insert_cost" in solved(client)
        # The right index: SEARCH, and the statement 100x faster than the scan was.
        for _ in range(20):  # on a busy machine one lookup may be slowed down: ask again
            found = client.get("/indexing/orders?customer=c0042")
            assert statement(client, found)["plan"][0].startswith("SEARCH orders USING INDEX")
            if "indexing.fast_search" in solved(client):
                break
        assert {"indexing.fast_search", "indexing.wrong_order", "indexing.insert_cost"} <= (
            solved(client)
        )
    finally:
        shutdown(app)


def test_a_search_through_an_index_that_is_not_yours_does_not_count(app, client):
    """A classmate's index (here one made around the module) speeds your query up too;
    the challenge asks for an index of yours."""
    client.post("/indexing/orders", json={"count": 200_000})
    client.get("/indexing/orders?customer=c0042")  # a scan
    with sqlite3.connect(database_path(app)) as conn:
        conn.execute("create index someone_elses on orders (customer)")
    for _ in range(5):
        found = client.get("/indexing/orders?customer=c0042")
        assert "USING INDEX someone_elses" in statement(client, found)["plan"][0]
    assert "indexing.fast_search" not in solved(client)


def test_inserts_of_different_sizes_do_not_measure_an_index(client):
    client.post("/indexing/orders", json={"count": 10_000})
    client.post("/indexing/indexes", json={"table": "orders", "columns": ["customer"]})
    client.post("/indexing/orders", json={"count": 12_000})
    assert "indexing.insert_cost" not in solved(client)


def test_the_console_stays_read_only_and_runs_the_same_query(client):
    client.post("/indexing/orders", json={"count": 1000})
    ddl = "create index sneaky on orders (customer)"
    is_problem(client.post("/sandbox/sql", json={"sql": ddl}), 400)
    is_problem(client.post("/sandbox/sql", json={"sql": "drop index notes_by_owner_created"}), 400)
    question = client.get("/indexing/orders?customer=c0042").json
    ran = client.post("/sandbox/sql", json={"sql": question["console_sql"], "explain": True})
    assert ran.status_code == 200, ran.json
    assert len(ran.json["rows"]) == question["count"]
    assert ran.json["plan"][0]["detail"] == "SCAN orders"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"table": "users", "columns": ["name"]}, "table"),
        ({"table": "orders; drop table notes", "columns": ["id"]}, "table"),
        ({"table": "orders", "columns": ["customer); drop table notes; --"]}, "columns"),
        ({"table": "orders", "columns": ["body"]}, "columns"),
        ({"table": "notes", "columns": ["body"]}, "columns"),
        ({"table": "orders", "columns": []}, "columns"),
        ({"table": "orders", "columns": ["customer", "customer"]}, "columns"),
        ({"table": "orders", "columns": "customer"}, "columns"),
        ({"table": "orders", "columns": [1]}, "columns"),
        ({"table": "orders", "columns": ["a", "b", "c", "d", "e"]}, "columns"),
        ({"table": "orders"}, "columns"),
        ({"table": "orders", "columns": ["customer"], "unique": True}, "unique"),
    ],
)
def test_an_index_outside_the_whitelist_is_a_422_naming_the_field(app, client, body, field):
    before = indexes_in(app)
    problem = is_problem(client.post("/indexing/indexes", json=body), 422)
    assert field in {e["field"] for e in problem["errors"]}
    assert indexes_in(app) == before


def test_the_same_index_twice_and_too_many_are_409s(client):
    body = {"table": "orders", "columns": ["customer"]}
    assert client.post("/indexing/indexes", json=body).status_code == 201
    assert (
        "DELETE /indexing/indexes/"
        in is_problem(client.post("/indexing/indexes", json=body), 409)["detail"]
    )
    for column in ("product", "status", "amount", "quantity", "created_at"):
        created = client.post("/indexing/indexes", json={"table": "orders", "columns": [column]})
        assert created.status_code == 201
    too_many = client.post("/indexing/indexes", json={"table": "notes", "columns": ["title"]})
    assert "Drop one" in is_problem(too_many, 409)["detail"]


def test_dropping_what_is_not_yours_is_refused(app, client):
    is_problem(client.delete("/indexing/indexes/notes_by_owner_created"), 403)
    is_problem(client.delete("/indexing/indexes/ix_local_orders_nothing"), 404)
    is_problem(client.delete("/indexing/indexes/sqlite_autoindex_x"), 404)
    assert indexes_in(app) >= SANDBOX_INDEXES


@pytest.mark.parametrize(
    "query",
    [
        "customer=42",
        "customer=c00421",
        "customer=c0042'--",
        "status=lost",
        "status=paid&since=yesterday",
        "since=2024-06-01;drop",
        "since=2024-06-01%0A",
        "customer=c%D9%A0%D9%A0%D9%A4%D9%A2",
    ],
)
def test_a_bad_question_is_a_422_saying_what_is_expected(client, query):
    problem = is_problem(client.get(f"/indexing/orders?{query}"), 422)
    wrong = {e["loc"][1] for e in problem["errors"]}
    assert wrong == {"since" if "since=y" in query else query.split("=")[0]}
    assert all(e["fix"].startswith(f"Send {e['field']}= as ") for e in problem["errors"])


def test_bad_orders_requests_are_4xx_and_the_limit_is_a_409(tmp_path):
    app = create_app(
        {"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_INDEXING_MAX_ORDERS": 1500}
    )
    client = app.test_client()
    try:
        for body in (
            {"count": 0},
            {"count": 200_001},
            {"count": 5, "seed": -1},
            {"count": "9"},
            {},
        ):
            is_problem(client.post("/indexing/orders", json=body), 422)
        is_problem(client.post("/indexing/orders", data="count=5"), 415)
        missing = is_problem(client.get("/indexing/orders/total"), 422)["errors"]
        assert [(e["loc"], e["type"]) for e in missing] == [(["query", "customer"], "missing")]
        assert client.post("/indexing/orders", json={"count": 1000}).status_code == 201
        over = is_problem(client.post("/indexing/orders", json={"count": 1000}), 409)
        assert "DELETE /indexing/orders" in over["detail"]
        assert client.delete("/indexing/orders").status_code == 204
        assert client.post("/indexing/orders", json={"count": 1000}).json["total"] == 1000
    finally:
        shutdown(app)


def test_in_a_class_off_keeps_the_shared_indexes_and_each_drops_only_their_own(room, ada, bob):
    for student, count in ((ada, 1000), (bob, 3000)):
        assert student.post("indexing/orders", json={"count": count}).status_code == 201
    adas = ada.post("indexing/indexes", json={"table": "orders", "columns": ["customer"]}).json()
    bobs = bob.post("indexing/indexes", json={"table": "orders", "columns": ["customer"]}).json()
    assert adas["name"] == f"ix_{ada.workspace}_orders_customer" != bobs["name"]
    # Bob cannot drop Ada's index, and cannot tell it from one that does not exist.
    is_problem(bob.request("DELETE", f"indexing/indexes/{adas['name']}"), 404)
    is_problem(bob.request("DELETE", "indexing/indexes/notes_by_workspace_created"), 403)
    listed = bob.get("indexing/indexes").json()
    assert [i["name"] for i in listed["indexes"] if i["owner"] == "you"] == [bobs["name"]]
    assert listed["other_workspaces_indexes"] == 1
    # Ada switches indexing off: her index goes, the class's and Bob's stay.
    off = ada.request("PATCH", "sandbox/modules/indexing", json={"enabled": False})
    assert off.status_code == 200
    events = [e["message"] for e in ada_trace(ada, off)["events"]]
    assert any("stay" in message for message in events), events
    assert indexes_in(room.app) == SANDBOX_INDEXES | {bobs["name"]}
    notes = ada.get("api/notes")
    assert not any("plan" in s for s in ada_trace(ada, notes)["sql"])  # off for Ada
    bobs_notes = bob.get("api/notes")
    assert all("plan" in s for s in ada_trace(bob, bobs_notes)["sql"])  # still on for Bob
    # Each one's questions see their own orders only, though they share one table.
    for student, count in ((ada, 1000), (bob, 3000)):
        mine = [r for r in generated(count, 1, student.workspace) if r[1] == "c0042"]
        total = student.get("indexing/orders/total?customer=c0042").json()["rows"][0]
        assert total == {"orders": len(mine), "spent": sum(r[4] for r in mine)}


def ada_trace(student, response) -> dict:
    trace = response.headers["X-Sandbox-Trace"]
    return student.get(f"sandbox/traces/{trace}").json()


def test_a_statements_plan_is_asked_once_until_the_schema_changes(tmp_path):
    """Planning every SELECT of every request cost more than the queries: plans are kept
    for the schema they were made for, and asked again once an index changes it."""
    from sandbox.modules.indexing import plans as plans_module

    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    planner = plans_module.Planner(db.database_path(app))
    asked = []
    real = plans_module._plan

    def counting(conn, sql):
        asked.append(sql)
        return real(conn, sql)

    plans_module._plan = counting
    try:
        sql = "select * from notes where workspace = ? order by created_at"
        for _ in range(3):
            with planner.asking() as plan:
                first = plan(sql)
        assert len(asked) == 1 and first
        conn = db.connect(db.database_path(app), traced=False)
        conn.execute("create index notes_by_title on notes (title)")
        conn.commit()
        conn.close()
        with planner.asking() as plan:
            plan(sql)
        assert len(asked) == 2  # the schema changed: planned afresh
    finally:
        plans_module._plan = real
        planner.close()
        shutdown(app)
