"""The /sandbox/ API: health, settings, progress, reset and the read-only SQL console."""

from __future__ import annotations

import pytest
from helpers import is_problem

from sandbox.settings import SETTINGS


def test_health(client):
    body = client.get("/sandbox/health").json
    assert body["status"] == "ok" and body["modules"]["server"] is True


def test_settings_carry_their_help(client):
    settings = client.get("/sandbox/settings").json["settings"]
    assert [s["name"] for s in settings] == [s.name for s in SETTINGS]
    assert all(s["help"] for s in settings)


def test_progress_lists_every_challenge_and_a_solve_is_saved(tmp_path):
    from sandbox import create_app

    config = {"SANDBOX_DATA_DIR": str(tmp_path)}
    client = create_app(config).test_client()
    before = client.get("/sandbox/progress").json
    assert before["solved"] == 0 and before["total"] >= 1
    teapot = client.get("/server/status/418")
    after = {c["id"]: c for c in client.get("/sandbox/progress").json["challenges"]}
    assert after["server.teapot"]["solved"] is True
    assert after["server.teapot"]["trace_id"] == teapot.headers["X-Sandbox-Trace"]
    record = client.get(f"/sandbox/traces/{teapot.headers['X-Sandbox-Trace']}").json
    assert any(e.get("challenge") == "server.teapot" for e in record["events"])
    # Kept in the database: a restarted sandbox still knows.
    again = {
        c["id"]: c
        for c in create_app(config).test_client().get("/sandbox/progress").json["challenges"]
    }
    assert again["server.teapot"]["solved"] is True


def test_reset_puts_data_toggles_and_progress_back(client):
    client.get("/server/status/418")
    client.patch("/sandbox/modules/server", json={"enabled": False})
    client.post("/sandbox/sql", json={"sql": "select 1"})
    body = client.post("/sandbox/reset").json
    assert body["modules"]["server"] is True
    assert client.get("/server/get").status_code == 200
    assert client.get("/sandbox/progress").json["solved"] == 0
    rows = client.post("/sandbox/sql", json={"sql": "select count(*) from notes"}).json["rows"]
    assert rows == [[3]]
    assert [t["path"] for t in client.get("/sandbox/traces").json["traces"]][-1] == "/sandbox/reset"


def test_sql_console_reads(client):
    body = client.post("/sandbox/sql", json={"sql": "select id, title from notes order by id"}).json
    assert body["columns"] == ["id", "title"] and len(body["rows"]) == 3
    assert body["truncated"] is False


def test_sql_console_explains_a_plan(client):
    body = client.post(
        "/sandbox/sql", json={"sql": "select * from notes where id = 1", "explain": True}
    ).json
    assert any("INTEGER PRIMARY KEY" in step["detail"] for step in body["plan"])


def test_sql_console_caps_rows(tmp_path):
    from sandbox import create_app

    client = create_app(
        {"SANDBOX_DATA_DIR": str(tmp_path), "SANDBOX_SQL_ROW_LIMIT": 10}
    ).test_client()
    body = client.post(
        "/sandbox/sql",
        json={
            "sql": "with recursive n(x) as (select 1 union all select x + 1 from n limit 50) "
            "select x from n"
        },
    ).json
    assert len(body["rows"]) == 10 and body["truncated"] is True and "LIMIT" in body["note"]


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        (
            "insert into notes (workspace, owner, title, created_at, updated_at) "
            "values ('local', 'x', 'x', 'x', 'x')",
            "INSERT",
        ),
        ("update notes set title = 'gone'", "UPDATE"),
        ("delete from notes", "DELETE"),
        ("drop table notes", "read-only"),
        ("create table x (a)", "read-only"),
        ("attach database 'evil.db' as evil", "ATTACH"),
        ("pragma journal_mode = delete", "PRAGMA"),
        ("pragma writable_schema = 1", "PRAGMA"),
        ("begin; delete from notes; commit", "read-only"),
        ("select 1; select 2", "one statement"),
        (
            "with recursive c(x) as (select 1 union all select x + 1 from c) "
            "select count(*) from c",
            "limit",
        ),
        ("select * from nowhere", "no such table"),
        ("selec 1", "syntax error"),
    ],
)
def test_sql_console_refuses_what_is_not_a_read(client, sql, says):
    problem = is_problem(client.post("/sandbox/sql", json={"sql": sql}), 400)
    assert says in problem["detail"]
    rows = client.post("/sandbox/sql", json={"sql": "select count(*) from notes"}).json["rows"]
    assert rows == [[3]]  # nothing changed


def test_sql_console_refuses_a_blank_statement_as_a_wrong_field(client):
    # Blank is a rule of the body's model (SQLQuery), so a 422 naming the field, as the
    # document's pattern says; what SQLite refuses is a 400 above.
    problem = is_problem(client.post("/sandbox/sql", json={"sql": " \t "}), 422)
    assert [e["loc"] for e in problem["errors"]] == [["sql"]]
    assert "empty" in problem["errors"][0]["message"]


def test_sql_console_cannot_create_files(client, app, tmp_path):
    from pathlib import Path

    target = tmp_path / "created.db"
    client.post("/sandbox/sql", json={"sql": f"attach database '{target}' as x"})
    client.post("/sandbox/sql", json={"sql": f"vacuum into '{target}'"})
    assert not target.exists()
    assert sorted(p.name for p in Path(app.instance_path).iterdir() if p.suffix == ".db") == [
        "sandbox.db"
    ]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"sql": 1}, 422),
        ({"query": "select 1"}, 422),
        ({"sql": "select 1", "explain": "yes"}, 422),
        ({"sql": "x" * 10_001}, 422),
    ],
)
def test_sql_console_bad_bodies(client, body, status):
    is_problem(client.post("/sandbox/sql", json=body), status)


def test_unknown_routes_and_methods_are_problems(client):
    assert "GET /nowhere" in is_problem(client.get("/nowhere"), 404)["detail"]
    response = client.delete("/sandbox/health")
    assert "GET" in is_problem(response, 405)["detail"] and "GET" in response.headers["Allow"]


def test_a_browser_gets_an_html_error_page_on_page_routes(client):
    response = client.get("/lessons/nope", headers={"Accept": "text/html"})
    assert response.status_code == 404 and response.mimetype == "text/html"


@pytest.mark.parametrize(
    "sql",
    [
        "select value from json_each('[1, 2]')",
        "select name from pragma_table_info('notes')",
        "pragma table_info(notes)",
        "pragma index_list(notes)",
        "select n.title from notes n, json_each(n.tags) t where t.value = 'welcome'",
    ],
)
def test_sql_console_reads_with_table_valued_functions_and_schema_pragmas(client, sql):
    response = client.post("/sandbox/sql", json={"sql": sql})
    assert response.status_code == 200, response.json
    assert response.json["rows"]


def test_sql_console_still_refuses_writing_the_schema(client):
    problem = is_problem(
        client.post(
            "/sandbox/sql", json={"sql": "update sqlite_master set sql = 'x' where name = 'notes'"}
        ),
        400,
    )
    assert problem["title"] == "SQL refused"


def test_several_modules_switch_in_one_request_and_bad_names_or_values_are_a_422(client):
    answer = client.patch("/sandbox/modules", json={"auth": True, "caching": True})
    states = {m["name"]: m["enabled"] for m in answer.json["modules"]}
    assert answer.status_code == 200 and states["auth"] and states["caching"]
    answer = client.patch("/sandbox/modules", json={"auth": False, "nope": True})
    assert answer.status_code == 404 and "Known modules: server" in answer.json["detail"]
    answer = client.patch("/sandbox/modules", json={"auth": False, "caching": "off"})
    assert answer.status_code == 422
    fields = {e["field"]: e["message"] for e in answer.json["errors"]}
    assert "true (on) or false (off)" in fields["caching"]
    # Nothing switched when any part is wrong: auth is still on.
    assert client.get("/sandbox/modules/auth").json["enabled"] is True
    assert client.patch("/sandbox/modules", json={}).status_code == 422
    assert client.patch("/sandbox/modules", json=[1]).status_code in (400, 422)
