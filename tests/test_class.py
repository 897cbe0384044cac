"""Class mode: students join, each into a workspace nobody else can read or change.

Every row of the isolation table is a test with two students over real HTTP: what one
does in their workspace, the other can neither see nor undo.
"""

from __future__ import annotations

import json
import threading

import pytest
import requests
from helpers import is_problem, join

from sandbox import Sandbox
from sandbox.classroom import join_code

# --- joining ---


def test_joining_gives_a_workspace_url_and_token(room):
    code = join_code(room.app)
    response = requests.post(f"{room.url}/class/join", json={"name": "Ada", "code": code})
    assert response.status_code == 201
    data = response.json()
    assert data["url"] == f"{room.url}/w/{data['workspace']}/"
    assert len(data["token"]) >= 32
    assert requests.get(data["url"] + "api/notes", headers={"X-Sandbox-Token": data["token"]}).ok


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "Ada", "code": "wrong"}, 403),
        ({"name": "", "code": "x"}, 422),
        ({"name": "x" * 41, "code": "x"}, 422),
        ({"name": "a\x00b", "code": "x"}, 422),
        ({"name": 5, "code": "x"}, 422),
    ],
)
def test_a_bad_join_is_a_problem(room, body, status):
    is_problem(requests.post(f"{room.url}/class/join", json=body), status)


def test_a_name_is_not_a_key(room, ada):
    code = join_code(room.app)
    # Knowing Ada's name is not enough to get her workspace back...
    taken = requests.post(f"{room.url}/class/join", json={"name": "ada", "code": code})
    assert "joined as" in is_problem(taken, 409)["detail"]
    # ...holding her token is.
    again = requests.post(
        f"{room.url}/class/join",
        json={"name": "ADA", "code": code},
        headers={"X-Sandbox-Token": ada.token},
    )
    assert again.status_code == 200 and again.json()["url"] == ada.url


def test_the_browser_joins_with_the_form_and_keeps_its_token_in_a_cookie(room):
    browser = requests.Session()
    front = browser.get(f"{room.url}/")
    assert "Join the class" in front.text
    joined = browser.post(
        f"{room.url}/class/join", data={"name": "Cleo", "code": join_code(room.app)}
    )
    assert joined.status_code == 200  # after the 303 to the workspace's landing page
    assert "/w/" in joined.url and "Backend sandbox" in joined.text
    cookie = joined.history[0].headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/w/" in cookie
    assert browser.get(joined.url + "sandbox/modules").status_code == 200


def test_outside_a_workspace_only_the_class_answers(room):
    for path in ("/api/notes", "/sandbox/traces", "/server/get", "/notes/"):
        problem = is_problem(requests.get(room.url + path), 401)
        assert "join" in problem["detail"].lower()
    assert requests.get(f"{room.url}/sandbox/health").ok


def test_a_workspace_needs_its_own_token(room, ada, bob):
    assert is_problem(requests.get(ada.url + "api/notes"), 401)
    stolen = requests.get(ada.url + "api/notes", headers={"X-Sandbox-Token": bob.token})
    assert is_problem(stolen, 401)
    assert is_problem(requests.get(f"{room.url}/w/nosuchws1/api/notes"), 404)


def test_a_link_with_the_token_opens_the_workspace_once(room, ada):
    browser = requests.Session()
    opened = browser.get(ada.url + f"?token={ada.token}")
    assert opened.status_code == 200 and opened.url == ada.url  # the token left the URL
    assert browser.get(ada.url + "sandbox/modules").ok
    trace = opened.history[0].headers["X-Sandbox-Trace"]
    record = ada.get(f"sandbox/traces/{trace}")
    assert record.ok and ada.token not in record.text


def test_pages_and_links_carry_the_workspace_prefix(ada):
    page = ada.get("").text
    prefix = "/" + ada.url.split("/", 3)[3]
    assert f'href="{prefix}static/sandbox.css"' in page
    assert f'data-modules-url="{prefix}sandbox/modules"' in page
    redirected = ada.get("server/redirect/2")
    assert redirected.url == ada.url + "server/get"


def test_a_notebook_connects_with_url_and_token(ada):
    with Sandbox.connect(ada.url, token=ada.token) as sb:
        response = sb.get("/server/get")
        assert response.ok
        assert sb.trace(response)["path"] == "/server/get"


# --- the isolation table: one test per row, two students each ---


def test_notes(ada, bob):
    mine = ada.request("POST", "api/notes", json={"title": "Ada's secret"}).json()
    assert "Ada's secret" not in bob.get("api/notes").text
    assert bob.get(f"api/notes/{mine['id']}").status_code == 404
    assert bob.request("DELETE", f"api/notes/{mine['id']}").status_code == 404
    assert ada.get(f"api/notes/{mine['id']}").json()["title"] == "Ada's secret"


def test_module_switches(ada, bob):
    assert ada.request("PATCH", "sandbox/modules/server", json={"enabled": False}).ok
    assert ada.get("server/get").status_code == 404
    assert bob.get("server/get").status_code == 200
    assert next(m for m in bob.get("sandbox/modules").json()["modules"] if m["name"] == "server")[
        "enabled"
    ]


def test_progress_and_challenge_checks(ada, bob):
    ada.get("server/status/418")
    solved = {c["id"] for c in ada.get("sandbox/progress").json()["challenges"] if c["solved"]}
    assert "server.teapot" in solved
    theirs = {c["id"] for c in bob.get("sandbox/progress").json()["challenges"] if c["solved"]}
    assert "server.teapot" not in theirs


def test_records(ada, bob):
    response = ada.get("server/get?secret_plan=1")
    trace = response.headers["X-Sandbox-Trace"]
    assert ada.get(f"sandbox/traces/{trace}").ok
    assert bob.get(f"sandbox/traces/{trace}").status_code == 404
    assert trace not in bob.get("sandbox/traces?limit=500").text


def test_the_live_feed(ada, bob):
    seen: list[str] = []
    feed = bob.get("sandbox/traces/stream", stream=True)
    assert feed.status_code == 200

    def read() -> None:
        for line in feed.iter_lines():
            seen.append(line.decode())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    ada_trace = ada.get("server/get").headers["X-Sandbox-Trace"]
    bob_trace = bob.get("server/get").headers["X-Sandbox-Trace"]
    reader.join(timeout=5)  # the stream ends after SANDBOX_STREAM_SECONDS
    feed.close()
    events = [json.loads(line[6:]) for line in seen if line.startswith("data: ")]
    ids = {e.get("id") for e in events}
    assert bob_trace in ids and ada_trace not in ids


def test_accounts_and_logins(ada, bob):
    password = "correct horse battery"
    for student in (ada, bob):
        assert student.request("PATCH", "sandbox/modules/auth", json={"enabled": True}).ok
    made = ada.request("POST", "auth/register", json={"username": "alice", "password": password})
    assert made.status_code == 201
    # Bob's workspace has its own accounts: Ada's alice does not exist there.
    login = bob.request("POST", "auth/login", json={"username": "alice", "password": password})
    assert login.status_code == 401
    again = bob.request("POST", "auth/register", json={"username": "alice", "password": password})
    assert again.status_code == 201


def test_reset(ada, bob):
    bob.request("POST", "api/notes", json={"title": "Bob's homework"})
    assert ada.request("POST", "sandbox/reset").ok
    assert "Bob's homework" in bob.get("api/notes").text


def test_thirty_students_each_see_only_their_own(room):
    students = [join(room, f"student {i}") for i in range(30)]
    for student in students:
        student.request("POST", "api/notes", json={"title": f"by {student.name}"})
    for student in students:
        titles = [n["title"] for n in student.get("api/notes?limit=100").json()["items"]]
        assert [t for t in titles if t.startswith("by ")] == [f"by {student.name}"]


@pytest.mark.parametrize(
    "sql",
    [
        "select title from notes",
        "select title from main.notes",
        "with n as (select * from main.notes) select title from n",
        "select title from notes where workspace != 'x'",
        "select username, password_hash from users",
    ],
)
def test_the_sql_console(ada, bob, sql):
    assert ada.request("PATCH", "sandbox/modules/auth", json={"enabled": True}).ok
    ada.request("POST", "auth/register", json={"username": "ada", "password": "sea shells by"})
    ada.request("POST", "api/notes", json={"title": "Ada's secret"})
    answer = bob.request("POST", "sandbox/sql", json={"sql": sql})
    assert answer.status_code == 200, answer.text
    assert "Ada's secret" not in answer.text and "scrypt" not in answer.text


@pytest.mark.parametrize("table", ["class_workspaces", "sandbox_meta"])
def test_the_class_tables_are_not_in_a_workspace(ada, table):
    is_problem(ada.request("POST", "sandbox/sql", json={"sql": f"select * from {table}"}), 400)
    names = [t["name"] for t in ada.get("database/schema").json()["tables"]]
    assert table not in names and "notes" in names


def test_the_schema_counts_only_your_rows(ada, bob):
    for _ in range(3):
        ada.request("POST", "api/notes", json={"title": "more"})
    counts = {t["name"]: t["rows"] for t in bob.get("database/schema").json()["tables"]}
    assert counts["notes"] == 3  # Bob's seeded three, not Ada's six


def test_lessons_and_hints_show_the_students_own_url(ada):
    lesson = ada.get("lessons/server").text
    assert ada.url + "server/get" in lesson
    assert "127.0.0.1:5000" not in lesson
    hints = " ".join(c["hint"] for c in ada.get("sandbox/progress").json()["challenges"])
    assert ada.url + "server/" in hints and "127.0.0.1:5000" not in hints


def test_sessions_tokens_and_throttling(ada, bob):
    password = "correct horse battery"
    for student in (ada, bob):
        assert student.request("PATCH", "sandbox/modules/auth", json={"enabled": True}).ok
        made = {"username": "alice", "password": password}
        assert student.request("POST", "auth/register", json=made).status_code == 201
    # A session cookie from Ada's workspace means nothing in Bob's (and is not even sent:
    # its Path is Ada's workspace).
    ada_cookie = ada.session.cookies.get("session")
    assert ada_cookie
    stolen = requests.get(
        bob.url + "auth/me",
        headers={"X-Sandbox-Token": bob.token, "Cookie": f"session={ada_cookie}"},
        timeout=10,
    )
    assert stolen.status_code == 401
    # An API token made in Ada's workspace is unknown in Bob's.
    token = ada.request("POST", "auth/tokens", json={"name": "nb", "scope": "write"}).json()
    assert ada.get("auth/me", headers={"Authorization": f"Bearer {token['token']}"}).ok
    replay = requests.get(
        bob.url + "auth/me",
        headers={"X-Sandbox-Token": bob.token, "Authorization": f"Bearer {token['token']}"},
        timeout=10,
    )
    assert replay.status_code == 401
    # Five wrong passwords for alice in Ada's workspace throttle Ada's alice, not Bob's.
    wrong = {"username": "alice", "password": "not the password"}
    anonymous_ada = requests.Session()
    anonymous_ada.headers["X-Sandbox-Token"] = ada.token
    for _ in range(5):
        anonymous_ada.post(ada.url + "auth/login", json=wrong, timeout=10)
    throttled = anonymous_ada.post(
        ada.url + "auth/login", json={**wrong, "password": password}, timeout=10
    )
    assert throttled.status_code == 429
    fine = bob.request("POST", "auth/login", json={"username": "alice", "password": password})
    assert fine.status_code == 200
