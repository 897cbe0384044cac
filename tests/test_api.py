"""The api module: notes over REST, every status and error a client relies on."""

from __future__ import annotations

import pytest
from helpers import is_problem


def create(client, **fields):
    response = client.post("/api/notes", json={"title": "t", **fields})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def test_list_has_items_total_and_page_links(client):
    body = client.get("/api/notes").json
    assert body["total"] == 3 and len(body["items"]) == 3
    assert body["limit"] == 20 and body["offset"] == 0
    assert body["next"] is None and body["prev"] is None
    assert set(body["items"][0]) == {
        "id",
        "owner",
        "title",
        "body",
        "tags",
        "created_at",
        "updated_at",
    }


def test_paging_through_every_note_with_next_and_link(client):
    for n in range(4):
        create(client, title=f"extra {n}")
    seen, url = [], "/api/notes?limit=2"
    while url:
        response = client.get(url)
        body = response.json
        seen += [n["id"] for n in body["items"]]
        assert 'rel="first"' in response.headers["Link"]
        if body["next"]:
            assert f'<{body["next"]}>; rel="next"' in response.headers["Link"]
        url = body["next"]
    assert sorted(seen) == list(range(1, 8)) and len(seen) == 7
    last = client.get("/api/notes?limit=2&offset=6").json
    assert last["prev"].endswith("offset=4") and last["next"] is None


def test_filter_by_tag_and_text_and_sort(client):
    create(client, title="Banana", tags=["fruit"])
    create(client, title="apple pie", body="with cinnamon", tags=["fruit", "dessert"])
    assert [n["title"] for n in client.get("/api/notes?tag=fruit&sort=title").json["items"]] == [
        "Banana",
        "apple pie",
    ]
    assert client.get("/api/notes?q=CINNAMON").json["total"] == 1
    assert client.get("/api/notes?q=100%25").json["total"] == 0  # a literal %, not a wildcard
    ids = [n["id"] for n in client.get("/api/notes?sort=-created").json["items"]]
    assert ids == sorted(ids, reverse=True)


def test_crud_round_trip(client):
    response = client.post("/api/notes", json={"title": " Hello ", "body": "b", "tags": ["x", "x"]})
    assert response.status_code == 201
    note = response.json
    assert response.headers["Location"] == f"/api/notes/{note['id']}"
    assert note["title"] == "Hello" and note["tags"] == ["x"] and note["owner"] == "guest"
    assert client.get(f"/api/notes/{note['id']}").json == note
    replaced = client.put(f"/api/notes/{note['id']}", json={"title": "New"}).json
    assert replaced["title"] == "New" and replaced["body"] == "" and replaced["tags"] == []
    patched = client.patch(f"/api/notes/{note['id']}", json={"body": "kept title"}).json
    assert patched["title"] == "New" and patched["body"] == "kept title"
    assert (
        patched["created_at"] == note["created_at"] and patched["updated_at"] >= note["updated_at"]
    )
    deleted = client.delete(f"/api/notes/{note['id']}")
    assert deleted.status_code == 204 and deleted.data == b""
    is_problem(client.get(f"/api/notes/{note['id']}"), 404)
    is_problem(client.delete(f"/api/notes/{note['id']}"), 404)


def test_etag_if_none_match_gives_304(client):
    response = client.get("/api/notes/1")
    etag = response.headers["ETag"]
    again = client.get("/api/notes/1", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    listing = client.get("/api/notes")
    assert (
        client.get("/api/notes", headers={"If-None-Match": listing.headers["ETag"]}).status_code
        == 304
    )
    client.patch("/api/notes/1", json={"body": "changed"})
    assert client.get("/api/notes/1", headers={"If-None-Match": etag}).status_code == 200


def test_if_match_catches_a_lost_update(client):
    etag = client.get("/api/notes/1").headers["ETag"]
    assert (
        client.patch("/api/notes/1", json={"body": "first"}, headers={"If-Match": etag}).status_code
        == 200
    )
    stale = client.patch("/api/notes/1", json={"body": "second"}, headers={"If-Match": etag})
    problem = is_problem(stale, 412)
    assert "changed since you read it" in problem["detail"]
    assert client.get("/api/notes/1").json["body"] == "first"  # the refused write changed nothing
    is_problem(client.delete("/api/notes/1", headers={"If-Match": etag}), 412)
    assert (
        client.put("/api/notes/1", json={"title": "t"}, headers={"If-Match": "*"}).status_code
        == 200
    )


BAD_WRITES = [
    # (method, path, body or raw, headers, status, a word the detail or errors must contain)
    ("POST", "/api/notes", '{"title": "x"', None, 400, "not valid JSON"),
    ("POST", "/api/notes", "[1, 2]", None, 400, "JSON object"),
    ("POST", "/api/notes", "", None, 400, "empty"),
    ("POST", "/api/notes", {"title": 42}, None, 422, "title"),
    ("POST", "/api/notes", {"body": "no title"}, None, 422, "title"),
    ("POST", "/api/notes", {"title": "   "}, None, 422, "title"),
    ("POST", "/api/notes", {"title": "x" * 201}, None, 422, "title"),
    ("POST", "/api/notes", {"title": "x", "tags": "a,b"}, None, 422, "tags"),
    ("POST", "/api/notes", {"title": "x", "tags": [1]}, None, 422, "tags"),
    ("POST", "/api/notes", {"title": "x", "tags": ["t"] * 21}, None, 422, "tags"),
    ("POST", "/api/notes", {"title": "x", "colour": "red"}, None, 422, "colour"),
    ("POST", "/api/notes", {"title": "x", "id": 99}, None, 422, "id"),
    ("POST", "/api/notes", {"title": "\ud800"}, None, 400, "surrogate"),
    (
        "POST",
        "/api/notes",
        "title=x",
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "application/json",
    ),
    ("PUT", "/api/notes/1", {"body": "no title"}, None, 422, "title"),
    ("PATCH", "/api/notes/1", {"title": None}, None, 422, "title"),
    ("PATCH", "/api/notes/999", {"title": "x"}, None, 404, "999"),
    ("PUT", "/api/notes/999", {"title": "x"}, None, 404, "999"),
    ("DELETE", "/api/notes/999", None, None, 404, "999"),
    ("DELETE", "/api/notes", None, None, 405, "GET"),
    ("GET", "/api/notes/abc", None, None, 404, "/api/notes/abc"),
    ("GET", "/api/notes/99999999999999999999999", None, None, 404, "99999999999999999999999"),
    ("GET", "/api/notes?limit=0", None, None, 422, "limit"),
    ("GET", "/api/notes?limit=101", None, None, 422, "limit"),
    ("GET", "/api/notes?limit=%C2%B2", None, None, 422, "limit"),
    ("GET", "/api/notes?offset=%D9%A3", None, None, 422, "offset"),
    ("GET", "/api/notes?offset=-1", None, None, 422, "offset"),
    ("GET", "/api/notes?sort=colour", None, None, 422, "sort"),
    ("GET", "/api/notes?sort=title;drop table notes", None, None, 422, "sort"),
    ("GET", "/api/notes?page=2", None, None, 422, "page"),
]


@pytest.mark.parametrize(("method", "path", "body", "headers", "status", "says"), BAD_WRITES)
def test_bad_requests_are_problems_and_change_nothing(
    client, method, path, body, headers, status, says
):
    before = client.get("/api/notes?limit=100").json
    kwargs = {"headers": headers or {}}
    if isinstance(body, dict):
        kwargs["json"] = body
    elif body is not None:
        kwargs["data"] = body
        kwargs["headers"].setdefault("Content-Type", "application/json")
    problem = is_problem(client.open(path, method=method, **kwargs), status)
    text = problem["detail"] + " ".join(
        e["field"] + e["message"] for e in problem.get("errors", [])
    )
    assert says in text, text
    assert client.get("/api/notes?limit=100").json == before


def test_validation_lists_every_wrong_field(client):
    problem = is_problem(client.post("/api/notes", json={"title": 1, "tags": "x", "z": 0}), 422)
    assert {e["field"] for e in problem["errors"]} == {"title", "tags", "z"}


def test_a_body_over_a_megabyte_is_413(client):
    response = client.post(
        "/api/notes",
        data=b"{" + b" " * (1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    is_problem(response, 413)


def test_sql_tricks_in_input_are_just_text(client):
    title = "x'); drop table notes; --"
    note = create(client, title=title, tags=["' or 1=1 --"])
    assert client.get(f"/api/notes/{note['id']}").json["title"] == title
    assert client.get("/api/notes", query_string={"tag": "' or 1=1 --"}).json["total"] == 1
    assert client.get("/api/notes", query_string={"q": "' or '1'='1"}).json["total"] == 0


def test_every_api_statement_shows_in_the_record(client):
    response = client.get("/api/notes?limit=2")
    record = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json
    assert record["module"] == "api"
    sqls = [s["sql"] for s in record["sql"]]
    assert any(s.startswith("select * from notes") for s in sqls)
    assert any(s.startswith("select count(*) from notes") for s in sqls)
    assert all(s["duration_ms"] is not None for s in record["sql"])


def test_api_off_answers_the_module_problem_while_html_pages_work(client):
    client.patch("/sandbox/modules/api", json={"enabled": False})
    for path in ("/api/notes", "/api/notes/1", "/api/openapi.json", "/api/docs/"):
        assert is_problem(client.get(path), 404)["module"] == "api"
    page = client.get("/notes/")
    assert page.status_code == 200 and "Welcome to the sandbox" in page.get_data(as_text=True)


def test_openapi_document_describes_every_api_and_sandbox_route(app, client):
    spec = client.get("/api/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters"
    }
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/sandbox/")) or rule.rule.startswith("/api/docs"):
            continue
        path = rule.rule.replace("<int:note_id>", "{note_id}")
        path = path.replace("<name>", "{name}").replace("<trace_id>", "{trace_id}")
        path = path.replace("<format>", "{format}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def test_the_explorer_is_served_offline(client):
    page = client.get("/api/docs/").get_data(as_text=True)
    assert "swagger-ui-bundle.js" in page and "http" not in page  # every asset from this server
    with client.get("/api/docs/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
    is_problem(client.get("/api/docs/../../../etc/passwd"), 404)


# --- the challenges, each solved the way a learner would ---


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def test_challenge_paginate(client):
    url = "/api/notes?limit=1"
    while url:
        url = client.get(url).json["next"]
    assert "api.paginate" in solved(client)


def test_challenge_fix_422(client):
    client.post("/api/notes", json={"title": 42})
    assert "api.fix_422" not in solved(client)
    client.post("/api/notes", json={"title": "42"})
    assert "api.fix_422" in solved(client)


def test_challenge_conditional_get(client):
    etag = client.get("/api/notes/2").headers["ETag"]
    client.get("/api/notes/2", headers={"If-None-Match": etag})
    assert "api.conditional_get" in solved(client)


def test_challenge_lost_update(client):
    etag = client.get("/api/notes/2").headers["ETag"]
    client.patch("/api/notes/2", json={"body": "mine"})
    client.patch("/api/notes/2", json={"body": "theirs"}, headers={"If-Match": etag})
    assert "api.lost_update" in solved(client)


def test_empty_answers_carry_no_content_type(client):
    etag = client.get("/api/notes/1").headers["ETag"]
    not_modified = client.get("/api/notes/1", headers={"If-None-Match": etag})
    assert "Content-Type" not in not_modified.headers
    assert "Content-Type" not in client.delete("/api/notes/1").headers


def test_a_patch_that_changes_nothing_writes_nothing(client):
    before = client.get("/api/notes/1")
    after = client.patch("/api/notes/1", json={})
    assert after.json == before.json and after.headers["ETag"] == before.headers["ETag"]
    same_title = client.patch("/api/notes/1", json={"title": before.json["title"]})
    assert same_title.json["updated_at"] == before.json["updated_at"]


def test_fields_come_in_the_same_order_from_every_endpoint(client):
    created = client.post("/api/notes", json={"tags": ["a"], "body": "b", "title": "t"}).json
    assert list(created) == list(client.get(f"/api/notes/{created['id']}").json)


def test_query_problems_say_it_is_the_query(client):
    assert is_problem(client.get("/api/notes?limit=0"), 422)["title"] == "Invalid query parameter"


@pytest.mark.parametrize("tags", ["oops", "[" * 100_000 + "]" * 100_000], ids=["text", "deep"])
def test_a_row_with_broken_tags_is_shown_not_a_500(app, client, tags):
    import sqlite3
    from pathlib import Path

    conn = sqlite3.connect(Path(app.instance_path) / "sandbox.db")
    with conn:
        conn.execute("update notes set tags = ? where id = 1", (tags,))
    conn.close()
    response = client.get("/api/notes")
    assert response.status_code == 200
    assert response.json["items"][0]["tags"] == []
    record = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json
    assert any("not a JSON list" in e["message"] for e in record["events"])


def test_every_notes_query_the_api_runs_searches_an_index(app, client, monkeypatch):
    """No list or count reads every note: with a room's notes in one database, each query
    the API runs narrows by index first, to the workspace and, with logins on, the owner.

    The statements are the ones the requests below really ran (caught where the record
    catches them), each asked for its plan with EXPLAIN QUERY PLAN.
    """
    import sqlite3

    from sandbox import db

    ran: list[str] = []
    record_it = db.trace_statement
    monkeypatch.setattr(db, "trace_statement", lambda sql: (ran.append(sql), record_it(sql)))
    queries = ["", "?sort=-updated", "?sort=title", "?tag=welcome", "?q=http", "?offset=2"]
    for query in queries:
        assert client.get(f"/api/notes{query}").status_code == 200
    assert client.patch("/sandbox/modules/auth", json={"enabled": True}).status_code == 200
    account = {"username": "alice", "password": "correct horse battery"}
    assert client.post("/auth/register", json=account).status_code == 201
    assert client.post("/api/notes", json={"title": "mine", "tags": ["t"]}).status_code == 201
    for query in queries:
        assert client.get(f"/api/notes{query}").status_code == 200
    note_reads = {
        sql
        for sql in ran
        if sql.lstrip().lower().startswith("select") and " from notes" in sql.lower()
    }
    owners = [sql for sql in note_reads if "owner =" in sql]
    assert len(note_reads) >= 12 and len(owners) >= 6, note_reads
    with sqlite3.connect(db.database_path(app)) as conn:
        for sql in note_reads:
            # Before Python 3.11 the trace shows placeholders: a plan needs no real values.
            plan = [
                row[3] for row in conn.execute(f"explain query plan {sql}", [None] * sql.count("?"))
            ]
            assert not any(step.startswith("SCAN notes") for step in plan), (sql, plan)
            assert plan[0].startswith("SEARCH notes USING"), (sql, plan)
            if "owner =" in sql:
                assert "owner=?" in plan[0], (sql, plan)  # the owner's notes, not everyone's
