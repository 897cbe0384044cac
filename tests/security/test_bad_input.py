"""Bad input gets a 4xx problem, never a 500: crafted bodies, paths and query strings.

Every test sends its input over real HTTP to a served sandbox, as an attacker's script
would, and reads the answer and the request record back the same way.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest
import requests
from helpers import is_problem, serve

from sandbox import create_app, notes
from sandbox.validation import JSON_DEPTH_MAX

PASSWORD = "a password long enough"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def nested_objects(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


@pytest.fixture
def locked(tmp_path):
    """A sandbox with auth and encryption on, served over HTTP, and a logged-in session."""
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    with serve(app) as live:
        for module in ("auth", "encryption"):
            assert live.request("PATCH", f"/sandbox/modules/{module}", json={"enabled": True}).ok
        account = {"username": "mallory", "password": PASSWORD}
        assert live.post("/auth/register", json=account).status_code == 201
        assert live.post("/api/notes", json={"title": "mine", "body": "b"}).status_code == 201
        yield live


# Every route that reads a JSON object with the shared reader (validation.json_body).
JSON_ROUTES = [
    ("POST", "/api/notes"),
    ("PUT", "/api/notes/1"),
    ("PATCH", "/api/notes/1"),
    ("POST", "/api/notes/1/share"),
    ("PATCH", "/sandbox/modules/server"),
    ("POST", "/sandbox/sql"),
    ("POST", "/auth/tokens"),
    ("POST", "/encryption/demo"),
]


@pytest.mark.parametrize(
    "body",
    [nested(500), nested_objects(500), "[" * 900_000],
    ids=["arrays-500", "objects-500", "open-900000"],
)
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
def test_json_nested_too_deep_is_a_400_that_says_so(locked, method, path, body):
    response = locked.request(method, path, data=body, headers={"Content-Type": "application/json"})
    problem = is_problem(response, 400)
    assert f"nested deeper than {JSON_DEPTH_MAX} levels" in problem["detail"]
    # The record does not keep such a body either, and says why.
    kept = locked.trace(response)["request"]["body"]
    assert kept.startswith(f"<{len(body)} bytes of application/json nested deeper")
    assert kept.endswith("not kept>")


def test_json_at_the_depth_limit_is_read_and_one_more_level_is_refused(locked):
    deepest = nested(JSON_DEPTH_MAX)
    echoed = locked.post("/server/anything", data=deepest).json()
    assert echoed["json"] is not None  # the playground read it: 100 levels are fine
    too_deep = locked.post("/server/anything", data=nested(JSON_DEPTH_MAX + 1)).json()
    assert too_deep["json"] is None and too_deep["data"] == nested(JSON_DEPTH_MAX + 1)
    headers = {"Content-Type": "application/json"}
    # A 100-deep array is read, then refused as a body that is not an object (400 too)...
    fits = is_problem(locked.post("/api/notes", data=deepest, headers=headers), 400)
    assert "JSON object" in fits["detail"]
    # ...while 101 levels are refused before anything looks inside.
    deeper = is_problem(locked.post("/api/notes", data=nested(101), headers=headers), 400)
    assert "nested deeper" in deeper["detail"]


def every_route(app) -> list[tuple[str, str]]:
    """Return (method, rule) for every route the app serves, but the ones that wait on purpose."""
    routes = []
    for rule in app.url_map.iter_rules():
        # Slow by design (they wait or stream for as long as asked, within their own caps,
        # tested in test_server.py); reset and logout would log the attacker out mid-test.
        if re.search(r"delay|drip|stream|/reset|/logout|static", rule.rule):
            continue
        routes += [(m, rule.rule) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


@pytest.mark.parametrize(
    "body", [nested(500), nested_objects(500)], ids=["arrays-500", "objects-500"]
)
def test_json_nested_500_deep_on_any_route_is_never_a_500(locked, body):
    answers = {}
    for method, rule in every_route(locked.app):
        path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", rule)
        for content_type in ("application/json", "text/plain"):
            response = locked.request(
                method,
                path,
                data=body,
                headers={"Content-Type": content_type},
                allow_redirects=False,
                timeout=10,
            )
            answers[f"{method} {path} ({content_type})"] = response.status_code
    assert len(answers) > 100
    assert {k: v for k, v in answers.items() if v >= 500} == {}


ODD = [
    "99999999999999999999999",  # past SQLite's largest integer
    "9223372036854775808",  # 2**63: one past it
    "-1",
    "0",
    "1.5",
    " 1",
    "ü",
    "\U0001f642",
    "%00",  # NUL
    "%FF",  # not UTF-8
    "%ED%A0%80",  # a UTF-16 surrogate encoded as UTF-8: not valid either
    "a" * 5000,
    "..%2F..%2Fetc%2Fpasswd",
]


def encoded(value: str) -> str:
    # Keep %XX escapes as written (they are the attack), percent-encode everything else.
    return quote(value, safe="%")


# werkzeug warns (to the developer, on stderr) when the playground sets a cookie over 4 KB
# (/server/cookies/set?q=aaaa...): a browser will drop it. A served sandbox prints the
# warning and answers; only this test run's "warnings are errors" setting would make it a 500.
@pytest.mark.filterwarnings("ignore:The '.*' cookie is too large:UserWarning")
def test_odd_values_in_every_path_and_query_parameter_are_never_a_500(locked):
    answers = {}
    for method, rule in every_route(locked.app):
        has_variables = "<" in rule
        for odd in ODD:
            path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", encoded(odd), rule)
            params = "&".join(
                f"{name}={encoded(odd)}"
                for name in ("limit", "offset", "q", "tag", "sort", "status", "module", "n")
            )
            url = path if has_variables else f"{path}?{params}"
            response = locked.request(
                method, url, json={}, allow_redirects=False, timeout=10, stream=True
            )
            response.close()  # only the status matters: do not download what it streams
            answers[f"{method} {url[:80]}"] = response.status_code
    assert len(answers) > 500
    assert {k: v for k, v in answers.items() if v >= 500} == {}


def test_a_huge_note_id_is_a_404_problem_not_a_crash(locked):
    for note_id in ("99999999999999999999999", str(2**63), str(2**63 - 1)):
        is_problem(locked.get(f"/api/notes/{note_id}"), 404)
        problem = is_problem(locked.request("PATCH", f"/api/notes/{note_id}", json={}), 404)
        assert "There is no note" in problem["detail"]
        is_problem(locked.request("DELETE", f"/api/notes/{note_id}"), 404)


@pytest.mark.parametrize("database", [True, False], ids=["sqlite", "memory"])
def test_a_search_term_over_the_limit_is_a_422_that_names_the_limit(locked, database):
    switch = {"enabled": database}
    assert locked.request("PATCH", "/sandbox/modules/database", json=switch).ok
    # 50,000 characters: SQLite itself refuses such a LIKE pattern ("pattern too complex").
    problem = is_problem(locked.get("/api/notes", params={"q": "a" * 50_000}), 422)
    (error,) = problem["errors"]
    assert error["loc"] == ["query", "q"]
    assert error["message"] == f"At most {notes.SEARCH_MAX} characters (50000 sent)."
    assert problem["title"] == "Invalid query parameter"
    longest = locked.get("/api/notes", params={"q": "%_\\" * (notes.SEARCH_MAX // 3)})
    assert longest.status_code == 200 and longest.json()["total"] == 0
    is_problem(locked.get("/api/notes", params={"q": "x" * (notes.SEARCH_MAX + 1)}), 422)


def test_the_document_states_the_search_limit(locked):
    document = locked.get("/api/openapi.json").json()
    parameters = document["paths"]["/api/notes"]["get"]["parameters"]
    q = next(p for p in parameters if p["name"] == "q")
    assert q["schema"]["maxLength"] == notes.SEARCH_MAX


def test_odd_bodies_on_the_json_routes_are_4xx_problems(locked):
    headers = {"Content-Type": "application/json"}
    bodies = [
        b"\x00",
        b"\xff\xfe\x00",
        b'{"title": "\\ud800"}',
        "\ufeff{}".encode(),  # a BOM is fine (Flask allows it), then fields are checked
        '{"titel": "x"}'.encode("utf-16"),  # read (UTF-16 is JSON), then a wrong field
        b"1e999999",
        b'{"title": 1e999999}',
        b'{"title": "x", "title": "y", "tags": {"a": 1}}',
        b"[" * 10 + b"1",
        b"",
    ]
    for method, path in JSON_ROUTES:
        for raw in bodies:
            response = locked.request(method, path, data=raw, headers=headers, timeout=10)
            assert 400 <= response.status_code < 500, (method, path, raw, response.text)
            assert response.headers["Content-Type"].startswith("application/problem+json")


def test_a_body_in_a_charset_json_does_not_allow_is_a_400_problem(locked):
    # JSON is UTF-8 (or UTF-16/32); a Latin-1 body is refused clearly, whatever it claims.
    response = requests.post(
        locked.url + "/api/notes",
        data='{"title": "caf\xe9"}'.encode("latin-1"),
        headers={"Content-Type": "application/json; charset=latin-1"},
        timeout=10,
    )
    is_problem(response, 400)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('"' + "pass" * 250_000, "application/json"),
        ("pass" * 250_000, "text/plain"),
        (' password="' * 90_000, "text/plain"),
        ("<" + "pass" * 250_000, "text/xml"),
    ],
    ids=["broken-json", "one-long-word", "open-quotes", "open-tag"],
)
def test_a_crafted_body_is_recorded_in_a_moment_not_minutes(locked, body, content_type):
    # The record's redaction once used patterns that backtrack: a megabyte like these kept
    # a server thread busy for minutes (hours, for the first), a denial of service.
    started = time.monotonic()
    response = locked.post("/server/post", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 200 and time.monotonic() - started < 10  # it took minutes
    kept = locked.trace(response)["request"]["body"]
    assert len(kept) <= locked.app.config["SANDBOX_BODY_EXCERPT"] + 40
