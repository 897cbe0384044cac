"""The database module: SQLite when on, memory when off, and what a restart does to each."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
from helpers import is_problem, serve, start_app

from sandbox import create_app, sql_console

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


# --- the SQL console's limits: what one query may cost (issue 7) ---

# 105 bytes of SQL that ask for 1000 rows of 200 KB: 200 MB before the byte limit.
HUGE_ANSWER = (
    "with recursive c(x) as (select 1 union all select x+1 from c where x<1000) "
    "select zeroblob(200000) from c"
)
# One value of 400 MB, made in a single step of SQLite's virtual machine.
HUGE_VALUE = "select hex(zeroblob(2e8))"
# As many columns as allowed, each a value of SQLite's length limit (1 MB by default).
WIDE_ROW = "select " + ", ".join(["zeroblob(999999)"] * sql_console.COLUMN_LIMIT)
WIDE_TEXT = "select " + ", ".join(["hex(zeroblob(499999))"] * sql_console.COLUMN_LIMIT)


def test_a_blob_is_shown_as_hex_and_the_answer_says_so(live):
    for sql, column, shown in [
        ("select zeroblob(1)", "zeroblob(1)", "x'00'"),
        ("select x'00ff' as raw, 'x''00ff''' as text", "raw", "x'00ff'"),
    ]:
        response = live.post("/sandbox/sql", json={"sql": sql})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["rows"][0][0] == shown
        assert answer["blob_columns"] == [column]  # the text that looks the same is not one
        assert "hex" in answer["note"] and repr(column) in answer["note"]
    plain = live.post("/sandbox/sql", json={"sql": "select 1e999, cast(x'ff' as text)"}).json()
    assert plain["rows"] == [["Infinity", "\ufffd"]] and plain["blob_columns"] == []


def test_a_schema_valid_body_that_is_not_sql_is_a_400_that_quotes_sqlite(client):
    # {"sql": "0"} fits the OpenAPI document; schemathesis.toml says a 400 is its answer.
    for explain in (False, True):
        response = client.post("/sandbox/sql", json={"sql": "0", "explain": explain})
        assert "syntax error" in is_problem(response, 400)["detail"]


def test_explaining_an_explain_answers_its_own_rows_and_says_so(client):
    sql = "explain query plan select * from notes where id = 1"
    answer = client.post("/sandbox/sql", json={"sql": sql, "explain": True}).json
    assert "plan" not in answer and "itself an EXPLAIN" in answer["note"]
    assert any("INTEGER PRIMARY KEY" in row[3] for row in answer["rows"])


def test_an_answer_over_the_byte_limit_is_a_problem_that_says_how_to_ask_for_less(live):
    started = time.monotonic()
    response = live.post("/sandbox/sql", json={"sql": HUGE_ANSWER})
    assert time.monotonic() - started < 10  # refused as it is read, not after 200 MB
    problem = is_problem(response, 400)
    assert problem["title"] == "SQL answer too large"
    assert problem["limit"] == "SANDBOX_SQL_BYTE_LIMIT" and problem["limit_bytes"] == 2_000_000
    assert "2,000,000 bytes" in problem["detail"] and "LIMIT" in problem["detail"]
    assert len(response.content) < 2000


def test_a_single_huge_value_is_stopped_by_sqlites_own_length_limit(live):
    # It was one step of SQLite's virtual machine, so the time limit could not stop it:
    # 5 s and 656 MB. The length limit stops it as the value is made.
    problem = is_problem(live.post("/sandbox/sql", json={"sql": HUGE_VALUE}), 400)
    assert "ran longer" not in problem["detail"]
    assert "single value" in problem["detail"] and "1,000,000 bytes" in problem["detail"]
    assert "substr(" in problem["detail"] and problem["limit"] == "SANDBOX_SQL_BYTE_LIMIT"


@pytest.mark.parametrize("sql", [WIDE_ROW, WIDE_TEXT], ids=["blobs", "text"])
def test_a_row_of_many_long_values_is_refused(live, sql):
    problem = is_problem(live.post("/sandbox/sql", json={"sql": sql}), 400)
    assert problem["title"] == "SQL answer too large"
    wider = sql + ", 1"
    problem = is_problem(live.post("/sandbox/sql", json={"sql": wider}), 400)
    assert f"at most {sql_console.COLUMN_LIMIT} columns" in problem["detail"]


def test_an_answer_within_the_limit_is_sent_whole_and_one_over_is_refused(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path), "SANDBOX_SQL_BYTE_LIMIT": 10_000})
    with serve(app) as live:

        def rows_of(size: int) -> str:
            return (
                "with recursive c(x) as (select 1 union all select x+1 from c where x<10) "
                f"select substr(hex(zeroblob({size})), 1, {size}) from c"
            )

        fits = live.post("/sandbox/sql", json={"sql": rows_of(900)})
        assert fits.status_code == 200 and len(fits.json()["rows"]) == 10
        is_problem(live.post("/sandbox/sql", json={"sql": rows_of(1100)}), 400)
        problem = is_problem(live.post("/sandbox/sql", json={"sql": "select zeroblob(6000)"}), 400)
        assert "5,000 bytes" in problem["detail"]  # the value limit: half the answer


def test_without_sqlites_length_limit_the_answer_is_still_capped_row_by_row(app, monkeypatch):
    # Python 3.10 has no Connection.setlimit: the console must still refuse, while reading.
    monkeypatch.setattr(sql_console, "limit_values", lambda conn, byte_limit: None)
    client = app.test_client()
    for sql in (HUGE_ANSWER, "select hex(zeroblob(3e6))", WIDE_TEXT):
        problem = is_problem(client.post("/sandbox/sql", json={"sql": sql}), 400)
        assert problem["title"] == "SQL answer too large", problem


def peak_rss_mb(data_dir: Path, queries: list[str]) -> float:
    """Serve `python app.py`, send the queries, stop it; return its peak memory in MB."""
    process, url = start_app(data_dir)
    try:
        for sql in queries:
            response = requests.post(url + "/sandbox/sql", json={"sql": sql}, timeout=30)
            assert response.status_code in (200, 400)
            assert len(response.content) <= 2_000_000 + 10_000  # every answer is bounded
        if not hasattr(os, "wait4"):  # Windows: the peak working set, asked before it ends
            return psutil.Process(process.pid).memory_info().peak_wset / 2**20
    finally:
        process.terminate()
        if hasattr(os, "wait4"):
            _, status, usage = os.wait4(process.pid, 0)  # the peak of the process that served
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        else:
            process.wait(timeout=30)
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    return usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def test_the_served_process_memory_stays_bounded_under_the_worst_queries(tmp_path):
    baseline = peak_rss_mb(tmp_path / "a", ["select * from notes", "select 1"])
    attacked = peak_rss_mb(
        tmp_path / "b", ["select * from notes", HUGE_ANSWER, HUGE_VALUE, WIDE_ROW, WIDE_TEXT]
    )
    # Before the limits, the first of these alone took a served process from 50 to 656 MB.
    assert attacked - baseline < 100, (baseline, attacked)  # measured: about 50 MB
