"""The validation module: one model checks a body and describes it; off, bad data gets in safely.

On: a wrong body is one 422 listing every field error (loc, message, fix, input_type), the
note forms show the same messages beside their fields, and the OpenAPI document's schemas
are the models themselves. Off: note bodies and forms are stored as sent (a title of a
megabyte, 10,000 tags, a number where text belongs), every page and answer that reads them
still works, SQL stays parameterised and pages stay escaped; logins, tokens and switches
stay checked.
"""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from helpers import is_problem
from playwright.sync_api import expect
from test_browser import open_page

from sandbox import create_app, notes
from sandbox.inspector import SQLQuery, Toggle, TraceFilter
from sandbox.modules.api.views import NoteListQuery
from sandbox.modules.indexing.views import OrderSearch, OrderTotal
from sandbox.modules.logging.views import LineFilter
from sandbox.registry import shutdown
from sandbox.validation import BLANK, NOT_BLANK_PATTERN, components, query_parameters

BIG_TITLE = "x" * 1_000_000  # a megabyte: under the 1 MiB body limit, 5,000 times TITLE_MAX


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def record(client, response) -> dict:
    return client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json


def validation_events(client, response) -> list[dict]:
    return [e for e in record(client, response)["events"] if e["module"] == "validation"]


def form_token(client, path: str = "/notes/new") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def off(client):
    client.patch("/sandbox/modules/validation", json={"enabled": False})
    return client


# --- on: one answer, every error ---


def test_a_422_lists_every_error_with_where_what_and_how_to_fix(client):
    before = client.get("/api/notes").json["total"]
    body = {"title": 42, "tags": ["ok", " ", "y" * 41], "colour": "red"}
    problem = is_problem(client.post("/api/notes", json=body), 422)
    errors = {tuple(e["loc"]): e for e in problem["errors"]}
    assert set(errors) == {("title",), ("tags", 1), ("tags", 2), ("colour",)}
    assert errors[("title",)]["input_type"] == "integer"
    assert "Must be a string" in errors[("title",)]["message"]
    assert "1 to 200 characters" in errors[("title",)]["fix"]
    assert errors[("tags", 1)]["message"] == "tags[1]: Must not be empty or only spaces."
    assert errors[("tags", 2)]["message"].startswith("tags[2]: At most 40 characters")
    assert errors[("colour",)]["fix"] == 'Remove "colour" (or check its spelling).'
    assert "4 errors" in problem["detail"]
    assert client.get("/api/notes").json["total"] == before


def test_a_missing_title_says_what_to_send(client):
    problem = is_problem(client.post("/api/notes", json={}), 422)
    (error,) = problem["errors"]
    assert error["loc"] == ["title"] and error["input_type"] == "missing"
    assert error["message"] == "Required: a string of 1 to 200 characters, not only spaces."


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"title": "x", "tags": "work"}, ["tags"]),
        ({"title": "x", "tags": [1]}, ["tags", 0]),
        ({"title": "x", "tags": ["t"] * 21}, ["tags"]),
        ({"title": "x", "body": None}, ["body"]),
        ({"title": "x", "body": "b" * 100_001}, ["body"]),
        ({"title": True}, ["title"]),
        ({"title": ["x"]}, ["title"]),
        ({"title": "\u3000"}, ["title"]),
    ],
)
def test_bad_note_bodies_are_422s_naming_the_place(client, body, loc):
    problem = is_problem(client.post("/api/notes", json=body), 422)
    assert [e["loc"] for e in problem["errors"]] == [loc]


def test_a_whole_number_may_be_written_3_0_but_never_as_text_or_true(client):
    client.patch("/sandbox/modules/caching", json={"enabled": True})
    assert client.patch("/caching/settings", json={"ttl": 60.0}).json["ttl"] == 60
    for bad in ("60", True, 60.5, 10**400, 1e300):
        problem = is_problem(client.patch("/caching/settings", json={"ttl": bad}), 422)
        assert [e["loc"] for e in problem["errors"]] == [["ttl"]], bad


def test_the_note_form_shows_each_message_beside_its_field(client):
    before = client.get("/api/notes").json["total"]
    token = form_token(client)
    form = {"csrf_token": token, "title": "   ", "body": "", "tags": "a, " + "t" * 41}
    page = client.post("/notes/new", data=form)
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    title = re.search(r'id="title-error"[^>]*>([^<]*)<', html).group(1)
    tags = re.search(r'id="tags-error"[^>]*>([^<]*)<', html).group(1)
    assert "Must not be empty or only spaces." in title and "1 to 200 characters" in title
    assert "tags[1]: At most 40 characters" in tags
    assert client.get("/api/notes").json["total"] == before


# --- one source of truth: the document is the models ---


def test_the_document_schemas_are_generated_from_the_models(client):
    schemas = client.get("/api/openapi.json").json["components"]["schemas"]
    models = (notes.NoteInput, notes.NotePatch, Toggle, SQLQuery)
    for name, schema in components(*models).items():
        assert schemas[name] == schema, name
    post = client.get("/api/openapi.json").json["paths"]["/api/notes"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NoteInput"
    }


JSON_SCHEMA_WORDS = {"type", "minimum", "maximum", "default", "enum", "pattern", "maxLength"}
GENERATED = [
    ("/api/notes", NoteListQuery),
    ("/sandbox/traces", TraceFilter),
    ("/logging/lines", LineFilter),
    ("/indexing/orders", OrderSearch),
    ("/indexing/orders/total", OrderTotal),
]


@pytest.mark.parametrize(("path", "model"), GENERATED)
def test_the_documents_query_parameters_are_generated_from_the_models(app, client, path, model):
    operation = client.get("/api/openapi.json").json["paths"][path]["get"]
    with app.app_context():  # the logging filter lists this sandbox's modules
        assert operation["parameters"] == query_parameters(model)
    # And they say what the model says, field by field (so a change to one shows in both).
    by_name = {p["name"]: p for p in operation["parameters"]}
    assert list(by_name) == list(model.model_fields)
    for name, field in model.model_fields.items():
        assert by_name[name]["in"] == "query"
        assert by_name[name]["required"] is field.is_required()
        assert by_name[name]["description"] == field.description
        assert "null" not in json.dumps(by_name[name]["schema"])  # a query cannot send null
        # JSON Schema's words only: pydantic's own ("ge", "le") would mean nothing to a client.
        assert set(by_name[name]["schema"]) <= JSON_SCHEMA_WORDS, by_name[name]
        if field.annotation in (int, int | None):
            assert by_name[name]["schema"]["type"] == "integer"
    if "limit" in by_name:
        assert by_name["limit"]["schema"]["default"] == model.model_fields["limit"].default


# Each bad query: the parameters it gets wrong, every one of them named in one answer.
BAD_QUERIES = [
    ("/api/notes?limit=5x&offset=-1&sort=colour", {"limit", "offset", "sort"}),
    ("/api/notes?limit=5.5&pgae=2&colour=red", {"limit", "pgae", "colour"}),
    ("/api/notes?limit=true&offset=%C2%B2", {"limit", "offset"}),
    ("/api/notes?limit=%205&offset=5_0&limit=7", {"limit", "offset"}),
    ("/api/notes?limit=101&q=" + "x" * (notes.SEARCH_MAX + 1), {"limit", "q"}),
    ("/sandbox/traces?limit=0&status=x&satus=404", {"limit", "status", "satus"}),
    ("/sandbox/traces?status=99&limit=", {"status", "limit"}),
    (
        "/logging/lines?level=LOUD&module=nope&after=1.0&limit=1001",
        {"level", "module", "after", "limit"},
    ),
]


@pytest.mark.parametrize(("url", "wrong"), BAD_QUERIES)
def test_a_bad_query_is_one_422_naming_each_parameter(client, url, wrong):
    problem = is_problem(client.get(url), 422)
    assert problem["title"] == "Invalid query parameter"
    assert {tuple(e["loc"]) for e in problem["errors"]} == {("query", name) for name in wrong}
    assert {e["field"] for e in problem["errors"]} == wrong
    for name in wrong:
        assert name in problem["detail"]
    for error in problem["errors"]:
        assert error["message"] and error["fix"], error


def test_query_numbers_are_read_from_text_and_unknown_names_say_what_is_expected(client):
    page = client.get("/api/notes?limit=3&offset=0&sort=-title&tag=&q=")
    assert page.status_code == 200 and page.json["limit"] == 3
    assert client.get("/sandbox/traces?limit=2&status=200").status_code == 200
    problem = is_problem(client.get("/api/notes?page=2"), 422)
    (error,) = problem["errors"]
    assert error["message"] == "Unknown query parameter. Expected: limit, offset, tag, q, sort."
    assert error["fix"] == 'Remove "page" (or check its spelling).'
    (error,) = is_problem(client.get("/api/notes?limit=5x"), 422)["errors"]
    assert error["message"] == 'Must be a whole number, not a string ("5x").'
    fix = "Send limit= as a whole number from 1 to 100 (notes per page), or leave it out (then 20)."
    assert error["fix"] == fix


def test_off_the_notes_list_query_is_still_checked(off):
    """The validation module's switch lets bad NOTES in; a query stores nothing."""
    assert off.post("/api/notes", json={"title": 42}).status_code == 201  # off indeed
    problem = is_problem(off.get("/api/notes?limit=100000&sort=colour"), 422)
    assert {e["field"] for e in problem["errors"]} == {"limit", "sort"}


def test_a_tag_of_unit_separator_is_refused_by_the_document_and_the_code_alike(client):
    """The case where they disagreed: "\\x1f" is blank to Python and not to JavaScript."""
    schema = client.get("/api/openapi.json").json["components"]["schemas"]["NoteInput"]
    validator = jsonschema.Draft202012Validator(schema)
    body = {"title": "x", "tags": ["\x1f"]}
    assert not validator.is_valid(body)
    assert is_problem(client.post("/api/notes", json=body), 422)["errors"][0]["loc"] == [
        "tags",
        0,
    ]
    kept = {"title": "x", "tags": ["\x1fa"]}
    assert validator.is_valid(kept)
    assert client.post("/api/notes", json=kept).json["tags"] == ["a"]


def test_the_pattern_and_the_code_call_the_same_characters_blank():
    pattern = re.compile(NOT_BLANK_PATTERN)
    for char in BLANK:
        assert not pattern.search(char), repr(char)
    for char in map(chr, range(0x3100)):
        assert bool(pattern.search(char)) == (char not in BLANK), repr(char)


# --- off: bad data gets in, safely ---


@pytest.mark.parametrize("database", [True, False], ids=["sqlite", "memory"])
def test_off_absurd_notes_get_in_and_every_reader_still_answers(off, database):
    client = off
    client.patch("/sandbox/modules/database", json={"enabled": database})
    absurd = [
        {"title": BIG_TITLE},
        {"title": "many", "tags": [f"t{i}" for i in range(10_000)]},
        {"title": 42},
        {"title": 9.5, "body": 7},
        {"title": None, "tags": "work"},
        {"title": ["a", {"b": 1}], "tags": [1, None, " ", " "], "colour": "red"},
        {"tags": []},
        {"title": 10**30},
    ]
    ids = []
    for body in absurd:
        answer = client.post("/api/notes", json=body)
        assert answer.status_code == 201, (body, answer.text)
        ids.append(answer.json["id"])
    for raw in (b'{"title": NaN}', b'{"title": 1e999}', b'{"title": ' + b"9" * 400 + b"}"):
        answer = client.post("/api/notes", data=raw, content_type="application/json")
        assert answer.status_code == 201, (raw, answer.text)
        ids.append(answer.json["id"])
    client.patch(f"/api/notes/{ids[2]}", json={"title": False, "tags": {"a": 1}})
    client.put(f"/api/notes/{ids[3]}", json={"body": ["x"]})
    stored = client.get(f"/api/notes/{ids[0]}").json
    assert len(stored["title"]) == 1_000_000
    assert len(client.get(f"/api/notes/{ids[1]}").json["tags"]) == 10_000
    assert client.get(f"/api/notes/{ids[4]}").json["tags"] == ["work"]
    reads = [f"/api/notes?sort={s}" for s in ("title", "-title", "created", "-updated")]
    reads += ["/api/notes?q=4", "/api/notes?tag=t9", "/api/notes?limit=100", "/notes/"]
    reads += [f"/api/notes/{i}" for i in ids] + [f"/notes/{i}" for i in ids]
    reads += ["/caching/report", "/sandbox/traces?limit=100"]
    for module in (None, "encryption", "caching"):
        if module:
            client.patch(f"/sandbox/modules/{module}", json={"enabled": True})
        for path in reads:
            assert client.get(path).status_code == 200, (module, path)
    export = client.post("/api/notes/export")
    assert export.status_code < 500, export.text
    shown = client.post("/sandbox/sql", json={"sql": "select typeof(title) from notes"})
    assert shown.status_code == 200


def test_off_a_number_title_sorts_as_the_database_sorts(off):
    for title in ("apple", 10, 9, "Zebra"):
        assert off.post("/api/notes", json={"title": title, "tags": ["s"]}).status_code == 201
    titles = [n["title"] for n in off.get("/api/notes?tag=s&sort=title").json["items"]]
    # SQLite's TEXT column turned the numbers into text: "10" sorts before "9", and both
    # before every word; "Zebra" before "apple" (uppercase first). Nobody asked for this.
    assert titles == ["10", "9", "Zebra", "apple"]


def test_off_the_record_says_what_got_in(off):
    answer = off.post("/api/notes", json={"title": 42, "tags": ["t"] * 10_000})
    (event,) = [e for e in validation_events(off, answer) if "let_in" in e]
    assert event["let_in_count"] == 2
    assert [e["loc"] for e in event["let_in"]] == [["title"], ["tags"]]
    assert event["sizes"] == {
        "title": "int of 2 characters",
        "body": "0 characters",
        "tags": "10,000 tags",
    }
    assert "stored anyway" in event["message"]
    fine = off.post("/api/notes", json={"title": "fine"})
    assert "would have passed" in validation_events(off, fine)[0]["message"]


def test_off_sql_stays_parameterised_and_pages_stay_escaped(off):
    attack = "'); drop table notes; --<script>alert(1)</script>"
    note = off.post("/api/notes", json={"title": attack, "tags": ["<b>x</b>"]}).json
    assert off.get(f"/api/notes/{note['id']}").json["title"] == attack
    page = off.get("/notes/").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert "<b>x</b>" not in page
    assert off.get(f"/api/notes/{note['id']}").status_code == 200  # the table is still there


def test_off_the_note_form_stores_an_empty_title_and_the_list_shows_it(off):
    token = form_token(off)
    saved = off.post("/notes/new", data={"csrf_token": token, "title": " ", "tags": ""})
    assert saved.status_code == 302
    assert "(no title)" in off.get("/notes/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/sandbox/modules/api", {"enabled": "yes"}),
        ("POST", "/sandbox/sql", {"sql": 5}),
        ("POST", "/auth/register", {"username": 42, "password": "x" * 5000}),
        ("PATCH", "/ratelimit/settings", {"limit": "lots"}),
    ],
)
def test_off_the_sandboxs_own_safety_stays_checked(off, method, path, body):
    for module in ("auth", "ratelimit"):
        off.patch(f"/sandbox/modules/{module}", json={"enabled": True})
    is_problem(off.open(path, method=method, json=body), 422)


def test_off_its_routes_answer_404_and_on_the_check_stores_nothing(client):
    before = client.get("/api/notes").json["total"]
    checked = client.post("/validation/check", json={"title": " hi ", "tags": ["a", "a"]})
    assert checked.json == {"valid": True, "note": {"title": "hi", "body": "", "tags": ["a"]}}
    is_problem(client.post("/validation/check", json={"title": ""}), 422)
    assert client.get("/api/notes").json["total"] == before
    client.patch("/sandbox/modules/validation", json={"enabled": False})
    is_problem(client.post("/validation/check", json={"title": "x"}), 404)


# --- challenges, classes, the browser ---


def test_every_challenge_can_be_solved(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    client.post("/api/notes", json={"title": 1, "tags": "x", "colour": "red"})
    token = form_token(client)
    client.post("/notes/new", data={"csrf_token": token, "title": "", "tags": ""})
    client.patch("/sandbox/modules/validation", json={"enabled": False})
    client.post("/api/notes", json={"title": "y" * 100_000})
    client.post("/sandbox/sql", json={"sql": "select length(title) from notes"})
    assert solved(client) >= {
        "validation.three_errors",
        "validation.sneaked_in",
        "validation.browser_bypassed",
    }
    shutdown(app)


def test_challenges_are_not_solved_by_the_wrong_thing(client):
    client.post("/api/notes", json={"title": 1, "tags": "x"})  # two fields only
    token = form_token(client)
    checked = {"csrf_token": token, "title": "", "checked_in_browser": "yes"}
    client.post("/notes/new", data=checked)  # a browser that checked: it would not send this
    client.post("/sandbox/sql", json={"sql": "select * from notes"})  # nothing sneaked in
    assert not {c for c in solved(client) if c.startswith("validation.")}


def test_each_workspace_switches_its_own_validation(ada, bob):
    ada.switch("validation", {"enabled": False})
    assert ada.post("api/notes", json={"title": 7}).status_code == 201
    assert bob.post("api/notes", json={"title": 7}).status_code == 422
    titles = [n["title"] for n in ada.get("api/notes?limit=100").json()["items"]]
    assert "7" in titles or 7 in titles
    assert 7 not in [n["title"] for n in bob.get("api/notes?limit=100").json()["items"]]


def test_the_browser_check_is_no_defence_the_server_refuses_anyway(live, browser):
    with open_page(browser, f"{live.url}/notes/new") as page:
        page.fill("#title", "")
        page.click("button[type=submit]")
        # The browser refuses to send an empty required field: no request, no record.
        expect(page.locator("#title:invalid")).to_have_count(1)
        assert page.url.endswith("/notes/new")
        page.uncheck("#browser-checks")
        page.fill("#title", "   ")
        page.fill("#tags", "ok, " + "t" * 41)
        page.click("button[type=submit]")
        expect(page.locator("#title-error")).to_contain_text("Must not be empty")
        expect(page.locator("#tags-error")).to_contain_text("At most 40 characters")
    traces = json.loads(live.get("/sandbox/traces?path=/notes/new").text)["traces"]
    assert [t["status"] for t in traces if t["method"] == "POST"] == [422]
    progress = json.loads(live.get("/sandbox/progress").text)["challenges"]
    assert {c["id"]: c["solved"] for c in progress}["validation.browser_bypassed"]
