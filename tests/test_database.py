"""The database module: SQLite when on, memory when off, and what a restart does to each."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import requests
from helpers import is_problem, start_app

from sandbox import create_app

ROOT = Path(__file__).resolve().parent.parent


def rows(app, sql: str) -> list[tuple]:
    conn = sqlite3.connect(Path(app.instance_path) / "sandbox.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_on_notes_live_in_the_sqlite_file(app, client):
    note = client.post("/api/notes", json={"title": "in the file", "tags": ["a"]}).json
    assert rows(app, f"select title, tags from notes where id = {note['id']}") == [
        ("in the file", '["a"]')
    ]


def test_off_notes_live_in_memory_and_the_record_says_so(app, client):
    client.patch("/sandbox/modules/database", json={"enabled": False})
    response = client.post("/api/notes", json={"title": "in memory"})
    assert response.status_code == 201
    record = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json
    assert any(
        e["message"].startswith("database off: notes kept in memory") for e in record["events"]
    )
    assert record["sql"] == []  # memory needs no SQL
    assert [n["title"] for n in client.get("/api/notes").json["items"]] == ["in memory"]
    assert rows(app, "select count(*) from notes where title = 'in memory'") == [(0,)]
    client.patch("/sandbox/modules/database", json={"enabled": True})
    titles = [n["title"] for n in client.get("/api/notes").json["items"]]
    assert len(titles) == 3 and "in memory" not in titles  # the database's notes, untouched


def test_memory_notes_vanish_across_a_restart_and_the_record_says_how_many(tmp_path):
    config = {"SANDBOX_DATA_DIR": str(tmp_path)}
    first = create_app(config).test_client()
    first.patch("/sandbox/modules/database", json={"enabled": False})
    first.post("/api/notes", json={"title": "one"})
    first.post("/api/notes", json={"title": "two"})
    second = create_app(config).test_client()  # a new server on the same data dir
    response = second.get("/api/notes")
    assert response.json["total"] == 0
    record = second.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json
    assert any(e.get("lost_in_restart") == 2 for e in record["events"])
    again = second.get("/api/notes")  # said once, not on every request
    record = second.get(f"/sandbox/traces/{again.headers['X-Sandbox-Trace']}").json
    assert not any(e.get("lost_in_restart") for e in record["events"])


def test_a_real_process_restart_with_the_database_off(tmp_path):
    def start():
        return start_app(tmp_path)

    process, url = start()
    try:
        requests.patch(url + "/sandbox/modules/database", json={"enabled": False})
        assert requests.post(url + "/api/notes", json={"title": "volatile"}).status_code == 201
        assert requests.get(url + "/api/notes").json()["total"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
    process, url = start()
    try:
        assert requests.get(url + "/api/notes").json()["total"] == 0
        requests.patch(url + "/sandbox/modules/database", json={"enabled": True})
        assert requests.get(url + "/api/notes").json()["total"] == 3
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_schema_lists_tables_columns_indexes_and_counts(client):
    body = client.get("/database/schema").json
    notes = next(t for t in body["tables"] if t["name"] == "notes")
    assert notes["rows"] == 3
    assert {c["name"] for c in notes["columns"]} >= {"id", "title", "body", "tags"}
    assert any(i["name"] == "notes_by_workspace_created" for i in notes["indexes"])
    assert "CREATE TABLE IF NOT EXISTS notes" in body["sql"]


def test_console_page_and_module_off(client):
    page = client.get("/database/console")
    assert page.status_code == 200 and b"sql-form" in page.data
    client.patch("/sandbox/modules/database", json={"enabled": False})
    assert is_problem(client.get("/database/schema"), 404)["module"] == "database"


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def test_challenge_crud(client):
    location = client.post("/api/notes", json={"title": "c"}).headers["Location"]
    client.get(location)
    client.patch(location, json={"body": "u"})
    assert "database.crud" not in solved(client)
    client.delete(location)
    assert "database.crud" in solved(client)


def test_challenge_crud_does_not_count_in_memory(client):
    client.patch("/sandbox/modules/database", json={"enabled": False})
    location = client.post("/api/notes", json={"title": "c"}).headers["Location"]
    client.get(location)
    client.patch(location, json={"body": "u"})
    client.delete(location)
    assert "database.crud" not in solved(client)


def test_challenge_vanish(tmp_path):
    config = {"SANDBOX_DATA_DIR": str(tmp_path)}
    first = create_app(config).test_client()
    first.patch("/sandbox/modules/database", json={"enabled": False})
    first.post("/api/notes", json={"title": "gone soon"})
    second = create_app(config).test_client()
    second.get("/api/notes")
    assert "database.vanish" in solved(second)


def test_challenge_index(client):
    client.post("/sandbox/sql", json={"sql": "select * from notes", "explain": True})
    assert "database.index" not in solved(client)  # a full SCAN uses no index
    client.post(
        "/sandbox/sql",
        json={
            "sql": "select * from notes where workspace = 'local' order by created_at",
            "explain": True,
        },
    )
    assert "database.index" in solved(client)
