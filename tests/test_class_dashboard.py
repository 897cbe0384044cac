"""The instructor's side of a class: accounts, the preset, the dashboard and its actions.

Over real HTTP, as an instructor, a student and nobody at all would send them; the
dashboard itself in a real browser at the end, with two students in two browsers.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from helpers import (
    LiveServer,
    is_problem,
    join,
    serve,
    start_app,
)

from sandbox import Sandbox, SandboxProblem, create_app
from sandbox.class_preset import PresetError
from sandbox.classroom import join_code
from sandbox.cli import main

SCREENSHOTS = Path(__file__).parent / "screenshots"
PRESET = """
name = "Lab 3: HTTP"
[modules]
on = ["server", "database", "api", "validation"]
switchable = ["api", "auth"]
[challenges]
in_scope = ["server", "api.paginate"]
[join]
code_expires_after_minutes = 90
max_workspaces = 3
"""


@dataclass
class Room:
    """A class server over real HTTP, and its first instructor's password."""

    server: LiveServer
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def app(self):
        return self.server.app


@contextmanager
def class_server(tmp_path: Path, preset: str | None = None) -> Iterator[Room]:
    config = {"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_CLASS_MODE": True}
    if preset is not None:
        (tmp_path / "class.toml").write_text(preset, encoding="utf-8")
        config["SANDBOX_CLASS_CONFIG"] = str(tmp_path / "class.toml")
    app = create_app(config)
    password = app.extensions["sandbox.class_first_password"]
    with serve(app) as server:
        yield Room(server, password)


@pytest.fixture
def room(tmp_path) -> Iterator[Room]:
    with class_server(tmp_path) as room:
        yield room


def instructor_session(room: Room, name: str = "instructor", password: str | None = None):
    """Log in as an instructor with JSON, as a notebook does: a session sending the token."""
    response = requests.post(
        f"{room.url}/class/login", json={"name": name, "password": password or room.password}
    )
    assert response.status_code == 200, response.text
    session = requests.Session()
    session.headers["X-Sandbox-Token"] = response.json()["token"]
    return session


@pytest.fixture
def teacher(room) -> requests.Session:
    return instructor_session(room)


def browser_login(room: Room) -> requests.Session:
    """Log in through the HTML form, as a browser does: the form's CSRF token, then the cookie."""
    browser = requests.Session()
    form = browser.get(f"{room.url}/class/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    response = browser.post(
        f"{room.url}/class/login",
        data={"csrf_token": token, "name": "instructor", "password": room.password},
        allow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return browser


def page_csrf(browser: requests.Session, room: Room) -> str:
    page = browser.get(f"{room.url}/class/")
    assert page.status_code == 200
    return re.search(r'data-csrf="([^"]+)"', page.text).group(1)


def total(room: Room, module: str | None = None) -> int:
    """Return how many challenges there are (of one module), from the running app."""
    modules = room.app.extensions["sandbox.registry"].modules.values()
    return sum(len(m.challenges) for m in modules if module in (None, m.name))


def students(session: requests.Session, room: Room, **params) -> dict[str, dict]:
    data = session.get(f"{room.url}/class/api/students", params=params).json()
    return {s["name"]: s for s in data["students"]}


# --- the first instructor and the command line ---


def stopped(process: subprocess.Popen) -> str:
    """Stop `python app.py` and return what it printed (never leave it running)."""
    # terminate(), not Ctrl+C's SIGINT: a shell that starts the tests in the background makes
    # its children ignore SIGINT, and Python then never raises KeyboardInterrupt.
    process.terminate()
    try:
        return process.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise


def test_first_start_prints_the_instructor_password_once_and_it_logs_in(tmp_path):
    data_dir = tmp_path / "data"
    process, url = start_app(data_dir, "--class-mode", stdout=subprocess.PIPE, text=True)
    first = stopped(process)
    password = re.search(r"name 'instructor', password (\S+)", first).group(1)
    code = re.search(r"Join code: (\w+)", first).group(1)
    assert f"{url}/class/" in first
    process, url = start_app(data_dir, "--class-mode", stdout=subprocess.PIPE, text=True)
    try:
        login = requests.post(
            f"{url}/class/login", json={"name": "instructor", "password": password}, timeout=30
        )
        assert login.status_code == 200 and login.json()["token"]
    finally:
        second = stopped(process)
    assert password not in second and "password" not in second  # once only
    assert f"Join code: {code}" in second  # the same code again
    info = CliRunner().invoke(main, ["--data-dir", str(data_dir), "class", "info"])
    assert info.exit_code == 0, info.output
    assert code in info.output and f"{url}/class/" in info.output and password not in info.output
    assert "Instructors: instructor" in info.output


def test_class_instructor_adds_one_and_sets_a_new_password(tmp_path, room):
    data = ["--data-dir", room.app.instance_path]
    runner = CliRunner()
    password = "correct horse battery staple"
    made = runner.invoke(main, [*data, "class", "instructor", "Grace"], input=f"{password}\n" * 2)
    assert made.exit_code == 0 and "Instructor 'grace' made" in made.output, made.output
    assert password not in made.output  # hidden input is not echoed
    short = runner.invoke(
        main, [*data, "class", "instructor", "x y", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 1 and "At least 12" in short.output and "name" in short.output
    grace = instructor_session(room, "grace", password)
    assert grace.get(f"{room.url}/class/api/students").ok
    changed = runner.invoke(
        main, [*data, "class", "instructor", "grace", "--password-stdin"], input="another one 123\n"
    )
    assert changed.exit_code == 0 and "new password" in changed.output
    # The new password ends every login made with the old one.
    assert is_problem(grace.get(f"{room.url}/class/api/students"), 401)
    instructor_session(room, "grace", "another one 123")


# --- logging in ---


def test_the_login_form_needs_its_csrf_token_and_sets_a_cookie_of_its_own(room):
    browser = requests.Session()
    assert (
        browser.get(f"{room.url}/class/", allow_redirects=False)
        .headers["Location"]
        .endswith("/class/login")
    )
    form = browser.get(f"{room.url}/class/login")
    assert form.status_code == 200 and "Instructor login" in form.text
    forged = requests.post(
        f"{room.url}/class/login",
        data={"csrf_token": "guess", "name": "instructor", "password": room.password},
    )
    assert forged.status_code == 403 and "out of date" in forged.text
    assert "sandbox_instructor" not in forged.headers.get("Set-Cookie", "")
    browser = browser_login(room)
    cookies = browser.cookies
    cookie = next(c for c in cookies if c.name == "sandbox_instructor")
    assert cookie.path == "/class" and cookie.has_nonstandard_attr("HttpOnly")
    assert "session" not in {c.name for c in cookies}  # not Flask's session cookie
    page = browser.get(f"{room.url}/class/")
    assert page.status_code == 200 and "Students" in page.text
    header = browser.get(f"{room.url}/class/login").request.headers.get("Cookie", "")
    assert "sandbox_instructor" in header
    # The cookie is sent to /class only: a workspace's pages never see it.
    ada = join(room, "Ada")
    sent = browser.get(ada.url, headers={"X-Sandbox-Token": ada.token}).request.headers
    assert "sandbox_instructor" not in sent.get("Cookie", "")


def test_the_login_cookie_attributes(room):
    browser = requests.Session()
    form = browser.get(f"{room.url}/class/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    response = browser.post(
        f"{room.url}/class/login",
        data={"csrf_token": token, "name": "Instructor", "password": room.password},
        allow_redirects=False,
    )
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("sandbox_instructor=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/class"):
        assert attribute in set_cookie


def test_a_wrong_password_is_a_401_and_guessing_is_throttled(room):
    wrong = {"name": "instructor", "password": "not the password"}
    assert (
        "Wrong name or password"
        in is_problem(requests.post(f"{room.url}/class/login", json=wrong), 401)["detail"]
    )
    nobody = requests.post(f"{room.url}/class/login", json={"name": "nobody", "password": "x"})
    assert (
        is_problem(nobody, 401)["detail"]
        == is_problem(requests.post(f"{room.url}/class/login", json=wrong), 401)["detail"]
    )
    page = requests.Session()
    token = re.search(r'value="([^"]+)"', page.get(f"{room.url}/class/login").text).group(1)
    again = page.post(f"{room.url}/class/login", data={"csrf_token": token, **wrong})
    assert again.status_code == 401 and "Wrong name or password." in again.text
    for _ in range(27):  # 30 failures from one address in all
        requests.post(f"{room.url}/class/login", json=wrong)
    throttled = requests.post(f"{room.url}/class/login", json=wrong)
    is_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) > 0
    right = {"name": "instructor", "password": room.password}
    assert requests.post(f"{room.url}/class/login", json=right).status_code == 429


def test_log_out_ends_the_cookie_and_the_tokens(room, teacher):
    browser = browser_login(room)
    csrf = page_csrf(browser, room)
    response = browser.post(f"{room.url}/class/logout", data={"csrf_token": csrf})
    assert response.url.endswith("/class/login")
    assert browser.get(f"{room.url}/class/", allow_redirects=False).status_code == 303
    is_problem(teacher.get(f"{room.url}/class/api/students"), 401)


# --- who may see the dashboard ---

READS = ["/class/", "/class/api/room", "/class/api/students", "/class/api/actions"]
READS += ["/class/api/progress.csv"]
CHANGES = [
    ("POST", "/class/api/reset", None),
    ("POST", "/class/api/join-code/expire", None),
    ("POST", "/class/api/join-code/renew", None),
    ("PATCH", "/class/api/modules/auth", {"locked": True}),
    ("POST", "/class/api/token", None),
    ("POST", "/class/logout", None),
]


def test_nobody_gets_a_401_and_the_browser_the_login_page(room):
    for path in READS[1:]:
        problem = is_problem(requests.get(room.url + path), 401)
        assert "/class/login" in problem["detail"]
    for method, path, body in CHANGES:
        is_problem(requests.request(method, room.url + path, json=body), 401)
    page = requests.get(f"{room.url}/class/", allow_redirects=False)
    assert page.status_code == 303 and page.headers["Location"].endswith("/class/login")


def test_a_student_gets_a_403_on_every_instructor_route(room, ada, teacher):
    before = teacher.get(f"{room.url}/class/api/students").json()["students"]
    for path in READS:
        for headers in (
            {"X-Sandbox-Token": ada.token},
            {"Cookie": f"sandbox_workspace={ada.token}"},
        ):
            problem = is_problem(requests.get(room.url + path, headers=headers), 403)
            assert "student" in problem["detail"]
    ada_workspace = f"{room.url}/class/api/students/{ada.workspace}"
    is_problem(ada.session.get(ada_workspace), 403)
    for method, path, body in CHANGES:
        is_problem(ada.session.request(method, room.url + path, json=body), 403)
    # Nothing changed: the code still works, the module is not locked, nobody was reset.
    room_now = teacher.get(f"{room.url}/class/api/room").json()
    assert not room_now["join"]["expired"] and room_now["join"]["code"] == join_code(room.app)
    assert not next(m for m in room_now["modules"] if m["name"] == "auth")["locked"]
    assert teacher.get(f"{room.url}/class/api/students").json()["students"] == before


def test_a_made_up_or_cut_token_is_a_401(room, teacher):
    token = teacher.headers["X-Sandbox-Token"]
    for sent in ("x", token[:-2], token + "x", "a" * 500):
        is_problem(
            requests.get(f"{room.url}/class/api/students", headers={"X-Sandbox-Token": sent}), 401
        )


def test_a_laptop_has_no_dashboard(live):
    assert "class" in is_problem(live.get("/class/api/students"), 404)["detail"]
    assert live.get("/class/login").status_code == 404


# --- CSRF and Origin on the actions ---


def test_actions_from_the_browser_need_the_pages_token_and_our_origin(room):
    browser = browser_login(room)
    csrf = page_csrf(browser, room)
    expire = f"{room.url}/class/api/join-code/expire"
    problem = is_problem(browser.post(expire), 403)
    assert "CSRF" in problem["detail"]
    is_problem(browser.post(expire, headers={"X-CSRF-Token": "made-up"}), 403)
    foreign = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    is_problem(browser.post(expire, headers=foreign), 403)
    cross = {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
    is_problem(browser.post(expire, headers=cross), 403)
    assert not browser.get(f"{room.url}/class/api/room").json()["join"]["expired"]
    ours = {"X-CSRF-Token": csrf, "Origin": room.url}
    assert browser.post(expire, headers=ours).json()["expired"] is True
    # A second login has a token of its own: the first page's token does not carry over.
    other = browser_login(room)
    is_problem(other.post(f"{room.url}/class/api/join-code/renew", headers=ours), 403)


# --- the students' rows ---


def test_each_row_has_progress_activity_the_last_error_and_switches(room, teacher, ada, bob):
    ada.get("server/status/418")
    missing = ada.get("api/notes/99999")
    assert missing.status_code == 404
    ada.get("server/get")
    assert ada.request("PATCH", "sandbox/modules/auth", json={"enabled": True}).ok
    rows = students(teacher, room)
    assert list(rows) == ["Ada", "Bob"]
    row = rows["Ada"]
    assert row["solved"] == 1 and row["total"] == total(room)
    assert row["progress"]["server"] == {"solved": 1, "total": total(room, "server")}
    assert row["progress"]["api"] == {"solved": 0, "total": total(room, "api")}
    assert row["requests_last_minute"] == 4
    assert row["last_activity"] is not None
    assert row["last_error"]["status"] == 404 and row["last_error"]["path"] == "/api/notes/99999"
    assert row["last_error"]["trace_id"] == missing.headers["X-Sandbox-Trace"]
    assert row["switched"] == [{"name": "auth", "enabled": True}]
    assert rows["Bob"]["solved"] == 0 and rows["Bob"]["last_error"] is None
    assert rows["Bob"]["switched"] == [] and rows["Bob"]["last_activity"] is None
    # The last error links to its record.
    record = teacher.get(
        f"{room.url}/class/api/students/{ada.workspace}/records/{row['last_error']['trace_id']}"
    )
    assert record.json()["path"] == "/api/notes/99999" and ada.token not in record.text
    # Filters and sorting, for a notebook.
    assert list(students(teacher, room, q="bo")) == ["Bob"]
    assert list(students(teacher, room, sort="-solved")) == ["Ada", "Bob"]
    assert list(students(teacher, room, sort="name")) == ["Ada", "Bob"]
    assert list(students(teacher, room, sort="-name")) == ["Bob", "Ada"]
    wrong = is_problem(teacher.get(f"{room.url}/class/api/students", params={"sort": "shoe"}), 422)
    assert wrong["errors"][0]["loc"] == ["query", "sort"]


def test_a_student_drill_down(room, teacher, ada, bob):
    solved = ada.get("server/status/418").headers["X-Sandbox-Trace"]
    bobs = bob.get("server/get").headers["X-Sandbox-Trace"]
    detail = teacher.get(f"{room.url}/class/api/students/{ada.workspace}").json()
    teapot = next(c for c in detail["challenges"] if c["id"] == "server.teapot")
    assert teapot["solved"] and teapot["trace_id"] == solved
    assert [r["id"] for r in detail["records"]] == [solved]
    assert {m["name"]: m["enabled"] for m in detail["modules"]}["auth"] is False
    one = teacher.get(f"{room.url}/class/api/students/{ada.workspace}/records/{solved}").json()
    assert any("challenge solved" in e["message"] for e in one["events"])
    # Bob's record is not in Ada's workspace.
    is_problem(teacher.get(f"{room.url}/class/api/students/{ada.workspace}/records/{bobs}"), 404)
    is_problem(teacher.get(f"{room.url}/class/api/students/nosuchws00"), 404)
    is_problem(teacher.get(f"{room.url}/class/api/students/{ada.workspace}?records=0"), 422)


# --- the actions ---


def test_reset_one_student_leaves_the_others(room, teacher, ada, bob):
    for student in (ada, bob):
        student.request("POST", "api/notes", json={"title": f"{student.name}'s homework"})
        student.get("server/status/418")
        assert student.request("PATCH", "sandbox/modules/encryption", json={"enabled": True}).ok
    before = {t["id"] for t in ada.get("sandbox/traces").json()["traces"]}
    reset = teacher.post(f"{room.url}/class/api/students/{ada.workspace}/reset")
    assert reset.json() == {"status": "reset", "workspace": ada.workspace, "name": "Ada"}
    assert "Ada's homework" not in ada.get("api/notes").text
    assert ada.get("sandbox/progress").json()["solved"] == 0
    assert not before & {t["id"] for t in ada.get("sandbox/traces").json()["traces"]}
    assert not ada.get("sandbox/modules/encryption").json()["enabled"]
    assert "Bob's homework" in bob.get("api/notes").text
    assert bob.get("sandbox/progress").json()["solved"] == 1
    assert bob.get("sandbox/modules/encryption").json()["enabled"]
    rows = students(teacher, room)
    assert rows["Ada"]["solved"] == 0 and rows["Bob"]["solved"] == 1
    # Recorded: in the log of actions, and as an event of the instructor's own request.
    action = teacher.get(f"{room.url}/class/api/actions").json()["actions"][0]
    assert action["action"] == "reset" and "Ada" in action["detail"]
    assert action["trace_id"] == reset.headers["X-Sandbox-Trace"]
    record = room.app.extensions["sandbox.records"].get("local").get(action["trace_id"])
    assert any(e.get("action") == "reset" for e in record.events)
    is_problem(teacher.post(f"{room.url}/class/api/students/nosuchws00/reset"), 404)


def test_reset_all(room, teacher, ada, bob):
    for student in (ada, bob):
        student.request("POST", "api/notes", json={"title": f"{student.name}'s homework"})
    assert teacher.post(f"{room.url}/class/api/reset").json() == {
        "status": "reset",
        "workspaces": 2,
    }
    for student in (ada, bob):
        assert "homework" not in student.get("api/notes").text


def test_switch_a_module_for_everyone_then_lock_it(room, teacher, ada, bob):
    module = f"{room.url}/class/api/modules/auth"
    switched = teacher.patch(module, json={"enabled": True})
    assert switched.json() == {"name": "auth", "enabled": True, "locked": False, "changed": 2}
    for student in (ada, bob):
        assert student.get("sandbox/modules/auth").json()["enabled"]
    # Not locked: a student may still switch it in their own workspace...
    assert bob.request("PATCH", "sandbox/modules/auth", json={"enabled": False}).ok
    # ...and their own reset puts it back to the class's start.
    assert bob.request("POST", "sandbox/reset").json()["modules"]["auth"] is True
    assert bob.get("sandbox/modules/auth").json()["enabled"]
    cleo = join(room, "Cleo")  # joins after: starts as the class does
    assert cleo.get("sandbox/modules/auth").json()["enabled"]
    # Locked: a student's switch is a 403 problem naming the lock, and nothing changes.
    assert ada.request("PATCH", "sandbox/modules/auth", json={"enabled": False}).ok
    locked = teacher.patch(module, json={"locked": True})
    assert locked.json()["locked"] and locked.json()["changed"] == 1  # Ada's went back on
    refused = is_problem(ada.request("PATCH", "sandbox/modules/auth", json={"enabled": False}), 403)
    assert refused["module"] == "auth" and "locked" in refused["detail"]
    assert ada.get("sandbox/modules/auth").json()["enabled"]
    assert ada.request("PATCH", "sandbox/modules/api", json={"enabled": False}).ok  # others: ok
    assert teacher.patch(module, json={"locked": False}).json()["locked"] is False
    assert ada.request("PATCH", "sandbox/modules/auth", json={"enabled": False}).ok
    log = [a["detail"] for a in teacher.get(f"{room.url}/class/api/actions").json()["actions"]]
    assert log[:3] == [
        "unlocked auth for every student",
        "locked auth on for every student",
        "switched auth on for everyone (2 workspace(s) changed)",
    ]
    is_problem(teacher.patch(f"{room.url}/class/api/modules/nosuch", json={"locked": True}), 404)
    is_problem(teacher.patch(module, json={}), 422)
    is_problem(teacher.patch(module, json={"locked": "yes"}), 422)


def test_expire_the_join_code_and_make_a_new_one(room, teacher, ada):
    old = join_code(room.app)
    assert teacher.post(f"{room.url}/class/api/join-code/expire").json()["expired"]
    refused = requests.post(f"{room.url}/class/join", json={"name": "Late", "code": old})
    assert "expired" in is_problem(refused, 403)["detail"]
    assert ada.get("api/notes").ok  # who joined keeps their workspace
    renewed = teacher.post(f"{room.url}/class/api/join-code/renew").json()
    assert renewed["code"] != old and not renewed["expired"]
    stale = requests.post(f"{room.url}/class/join", json={"name": "Late", "code": old})
    is_problem(stale, 403)
    fresh = requests.post(f"{room.url}/class/join", json={"name": "Late", "code": renewed["code"]})
    assert fresh.status_code == 201


def test_csv_export(room, teacher, ada, bob):
    ada.get("server/status/418")
    trick = join(room, "=HYPERLINK(1)")
    response = teacher.get(f"{room.url}/class/api/progress.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert [line["name"] for line in lines] == ["Ada", "Bob", "'=HYPERLINK(1)"]
    assert lines[0]["solved"] == "1" and lines[0]["total"] == str(total(room))
    assert lines[0]["server.teapot"].startswith("20") and lines[1]["server.teapot"] == ""
    assert lines[2]["workspace"] == trick.workspace
    log = teacher.get(f"{room.url}/class/api/actions").json()["actions"][0]
    assert log["action"] == "export" and "3 student(s)" in log["detail"]


def test_class_progress_in_a_notebook(room, teacher, ada, bob):
    ada.get("server/status/418")
    ada.get("api/notes/424242")
    with Sandbox.connect(room.url, token=teacher.headers["X-Sandbox-Token"]) as sb:
        table = sb.class_progress()
    assert table.columns[:3] == ["name", "solved", "server"]
    assert table[0]["name"] == "Ada" and table[0]["solved"] == f"1/{total(room)}"
    assert table[0]["server"] == f"1/{total(room, 'server')}"
    assert table[0]["last_error"] == "404 /api/notes/424242"
    assert "<table class='sbx-table'>" in table._repr_html_() and "Bob" in table._repr_html_()
    with Sandbox.connect(room.url, token=ada.token) as sb, pytest.raises(SandboxProblem) as refused:
        sb.class_progress()
    assert refused.value.response.status_code == 403


def test_a_notebook_token_from_the_dashboard(room):
    browser = browser_login(room)
    csrf = page_csrf(browser, room)
    made = browser.post(f"{room.url}/class/api/token", headers={"X-CSRF-Token": csrf}).json()
    notebook = {"X-Sandbox-Token": made["token"]}
    assert requests.get(f"{room.url}/class/api/room", headers=notebook).ok


# --- the preset ---


def test_the_preset_sets_up_the_room(tmp_path):
    with class_server(tmp_path, PRESET) as room:
        teacher = instructor_session(room)
        ada = join(room, "Ada")
        modules = {m["name"]: m["enabled"] for m in ada.get("sandbox/modules").json()["modules"]}
        # The preset's modules.on are on; every other module is off, however many there are.
        assert {name for name, on in modules.items() if on} == {
            "server",
            "database",
            "api",
            "validation",
        }
        assert {"auth", "encryption"} <= set(modules)
        locked = ada.request("PATCH", "sandbox/modules/server", json={"enabled": False})
        assert "locked" in is_problem(locked, 403)["detail"]
        assert ada.request("PATCH", "sandbox/modules/auth", json={"enabled": True}).ok
        assert ada.request("PATCH", "sandbox/modules/auth", json={"enabled": False}).ok
        # Only the challenges in scope count: all the server module's, and api.paginate.
        ada.get("server/status/418")
        assert ada.request("POST", "api/notes", json={}).status_code == 422
        assert ada.request("POST", "api/notes", json={"title": "fixed"}).status_code == 201
        # The student's own progress counts what the dashboard counts; api.fix_422 (solved
        # too) stays listed, marked out of scope.
        own = ada.get("sandbox/progress").json()
        assert (own["solved"], own["total"]) == (1, total(room, "server") + 1)
        listed = {c["id"]: c for c in own["challenges"]}
        assert listed["api.fix_422"]["solved"] and not listed["api.fix_422"]["in_scope"]
        assert listed["api.paginate"]["in_scope"] and listed["server.teapot"]["in_scope"]
        with Sandbox.connect(ada.url, token=ada.token) as sb:
            shown_ids = [row["id"] for row in sb.progress(every=True)]
        assert "api.fix_422" not in shown_ids and "api.paginate" in shown_ids
        row = students(teacher, room)["Ada"]
        assert row["total"] == own["total"] and row["solved"] == own["solved"]
        assert set(row["progress"]) == {"server", "api"}
        assert row["solved"] == 1 and row["progress"]["api"] == {"solved": 0, "total": 1}
        shown = teacher.get(f"{room.url}/class/api/room").json()
        assert shown["name"] == "Lab 3: HTTP"
        assert shown["preset"]["switchable"] == ["api", "auth"]
        assert shown["preset"]["file"].endswith("class.toml")
        assert 'name = "Lab 3: HTTP"' in shown["preset_text"]
        assert shown["join"]["expires_at"] is not None and not shown["join"]["expired"]
        assert [c["id"] for c in shown["challenges"]][-1] == "api.paginate"
        # Only the preset's switchable modules are unlocked, however many modules there are.
        locked = {m["name"]: m["locked"] for m in shown["modules"]}
        assert {name for name, is_locked in locked.items() if not is_locked} == {"api", "auth"}
        assert {"server", "database", "encryption"} <= set(locked)
        page = teacher.get(f"{room.url}/class/")
        assert "Lab 3: HTTP" in page.text
        # Three workspaces allowed.
        join(room, "Bob")
        join(room, "Cleo")
        full = requests.post(
            f"{room.url}/class/join", json={"name": "Dan", "code": join_code(room.app)}
        )
        assert "3 workspaces" in is_problem(full, 403)["detail"]


def test_the_join_code_expires_as_the_preset_says(tmp_path):
    with class_server(tmp_path, PRESET) as room:
        made = "2000-01-01T00:00:00.000+00:00"
        with sqlite3.connect(Path(room.app.instance_path) / "sandbox.db") as conn:
            conn.execute(
                "update sandbox_meta set value = ? where key = 'class.join_code_made_at'", (made,)
            )
        refused = requests.post(
            f"{room.url}/class/join", json={"name": "Late", "code": join_code(room.app)}
        )
        assert "expired" in is_problem(refused, 403)["detail"]


def test_a_restart_keeps_the_preset_and_the_dashboards_changes(tmp_path):
    with class_server(tmp_path, PRESET) as room:
        teacher = instructor_session(room)
        teacher.patch(f"{room.url}/class/api/modules/api", json={"locked": True})
    # Started again without --class-config: the data dir remembers the preset and the lock.
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_CLASS_MODE": True})
    with serve(app) as server:
        room = Room(server, "")
        shown = requests.post(
            f"{room.url}/class/join", json={"name": "Ada", "code": join_code(app)}
        ).json()
        refused = requests.patch(
            shown["url"] + "sandbox/modules/api",
            json={"enabled": False},
            headers={"X-Sandbox-Token": shown["token"]},
        )
        assert is_problem(refused, 403)["module"] == "api"


def test_a_new_preset_puts_existing_workspaces_at_its_locks(tmp_path):
    with class_server(tmp_path) as room:
        ada = join(room, "Ada")
        assert ada.request("PATCH", "sandbox/modules/server", json={"enabled": False}).ok
        assert ada.request("PATCH", "sandbox/modules/auth", json={"enabled": True}).ok
    # Restarted with a preset that locks the server module on and leaves auth switchable.
    with class_server(tmp_path, PRESET) as room:
        ada.url = f"{room.url}/w/{ada.workspace}/"  # the new server's port
        assert ada.get("server/get").status_code == 200
        assert ada.get("sandbox/modules/auth").json()["enabled"]  # not locked: left as it was
        is_problem(ada.request("PATCH", "sandbox/modules/server", json={"enabled": False}), 403)


BAD_PRESETS = [
    ('name = "x"\n[modules]\nswichable = []\n', "unknown key 'modules.swichable'"),
    ("colour = 1\n", "unknown key 'colour'"),
    ('name = "unfinished\n', "not valid TOML"),
    ('[modules]\non = ["nosuch"]\n', "no module called 'nosuch'"),
    ('[modules]\non = "server"\n', "must be a list"),
    ('[challenges]\nin_scope = ["server.nosuch"]\n', "neither a module nor a challenge"),
    ("[join]\nmax_workspaces = 0\n", "at least 1"),
    ("[join]\ncode_expires_after_minutes = true\n", "whole number"),
    ("modules = 3\n", "must be a table"),
    ('name = ""\n', "1 to 80"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PRESETS)
def test_a_bad_preset_stops_the_start_with_a_clear_message(tmp_path, text, message):
    path = tmp_path / "class.toml"
    path.write_text(text, encoding="utf-8")
    config = {"SANDBOX_DATA_DIR": str(tmp_path / "d"), "SANDBOX_CLASS_MODE": True}
    with pytest.raises(PresetError, match=re.escape(message)):
        create_app({**config, "SANDBOX_CLASS_CONFIG": str(path)})
    started = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "d"), "--class-config", str(path), "modules"]
    )
    assert started.exit_code == 1 and message in started.output
    assert "Traceback" not in started.output


def test_the_example_preset_in_the_repository_loads():
    example = Path(__file__).resolve().parent.parent / "class.example.toml"
    runner = CliRunner()
    with runner.isolated_filesystem():
        result = runner.invoke(main, ["--class-config", str(example), "class", "info"])
    assert result.exit_code == 0, result.output
    assert "Backend 101" in result.output and "Join code" in result.output


# --- in a real browser ---

# Which elements stick out of a 390 px screen (said when the page scrolls sideways).
WIDER_THAN_THE_SCREEN = """[...document.querySelectorAll('body *')]
    .filter((e) => e.getBoundingClientRect().right > 391)
    .map((e) => `${e.tagName}.${e.className}`)"""


def test_the_dashboard_shows_two_students_solving_live(browser, room):
    from playwright.sync_api import expect

    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    SCREENSHOTS.mkdir(exist_ok=True)
    errors: list[str] = []
    contexts = []

    def new_page(width: int = 1280, height: int = 900):
        context = browser.new_context(
            viewport={"width": width, "height": height}, reduced_motion="reduce"
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        return page

    try:
        dashboard = new_page()
        dashboard.goto(f"{room.url}/class/")
        expect(dashboard).to_have_url(re.compile(r"/class/login$"))
        dashboard.get_by_label("Name").fill("instructor")
        dashboard.get_by_label("Password").fill(room.password)
        dashboard.get_by_role("button", name="Log in").click()
        expect(dashboard).to_have_url(re.compile(r"/class/$"))
        expect(dashboard.locator("[data-live]")).to_have_attribute("data-live", "on")
        expect(dashboard.locator("[data-code]")).to_have_text(join_code(room.app))
        dashboard.evaluate("window.notReloaded = true")

        workspaces = {}
        for name in ("Ada", "Bob"):
            student = new_page()
            student.goto(f"{room.url}/")
            student.get_by_label("Your name").fill(name)
            student.get_by_label("Class code").fill(join_code(room.app))
            student.get_by_role("button", name="Join").click()
            expect(student).to_have_url(re.compile(r"/w/\w+/$"))
            url = student.url
            workspaces[name] = url.rstrip("/").rsplit("/", 1)[1]
            answer = student.goto(url + "server/status/418")  # the teapot challenge
            assert answer.status == 418
        for name, workspace in workspaces.items():
            row = dashboard.locator(f'tr[data-student="{workspace}"]')
            expect(row).to_contain_text(name)
            expect(row.locator(f'[data-solved="{workspace}"]')).to_have_text(f"1/{total(room)}")
            expect(row).to_contain_text(f"server 1/{total(room, 'server')}")
        assert dashboard.evaluate("window.notReloaded") is True  # live, not reloaded
        expect(dashboard.locator("[data-count]")).to_have_text("2")
        dashboard.screenshot(path=SCREENSHOTS / "class-dashboard-1280.png", full_page=True)

        # Drill down into Ada: her challenges and records.
        ada_row = dashboard.locator(f'tr[data-student="{workspaces["Ada"]}"]')
        ada_row.get_by_role("link", name="Ada").click()
        detail = dashboard.locator("[data-detail]")
        expect(detail).to_be_visible()
        expect(detail.locator('[data-challenge="server.teapot"]')).to_have_class("is-solved")
        detail.locator("tr[data-record]", has_text="/server/status/418").click()
        expect(dashboard.locator("[data-detail-record]")).to_contain_text("challenge solved")
        detail.screenshot(path=SCREENSHOTS / "class-student-1280.png")

        # Reset Bob: cancelled first (nothing happens), then confirmed.
        bob_row = dashboard.locator(f'tr[data-student="{workspaces["Bob"]}"]')
        bob_row.get_by_role("button", name="Reset").click()
        confirm = dashboard.locator("dialog[data-confirm]")
        expect(confirm).to_contain_text("Reset Bob's workspace?")
        dashboard.screenshot(path=SCREENSHOTS / "class-confirm-1280.png")
        confirm.get_by_role("button", name="Cancel").click()
        expect(confirm).to_be_hidden()
        expect(bob_row.locator("[data-solved]")).to_have_text(f"1/{total(room)}")
        bob_row.get_by_role("button", name="Reset").click()
        confirm.get_by_role("button", name="Reset").click()
        expect(dashboard.locator(".toast")).to_contain_text("Bob's workspace is back to the start")
        expect(bob_row.locator("[data-solved]")).to_have_text(f"0/{total(room)}")
        expect(ada_row.locator("[data-solved]")).to_have_text(f"1/{total(room)}")
        expect(dashboard.locator("[data-actions]")).to_contain_text("reset the workspace of Bob")

        # Lock a module for everyone from the dashboard.
        dashboard.locator('[data-lock="auth"]').click()
        confirm.get_by_role("button", name="Lock").click()
        expect(dashboard.locator('[data-module-row="auth"]')).to_contain_text("Locked")

        # A phone: the same room, one card per student.
        phone = new_page(390, 844)
        phone.goto(f"{room.url}/class/login")
        phone.get_by_label("Name").fill("instructor")
        phone.get_by_label("Password").fill(room.password)
        phone.get_by_role("button", name="Log in").click()
        ada_solved = phone.locator(f'[data-solved="{workspaces["Ada"]}"]')
        expect(ada_solved).to_have_text(f"1/{total(room)}")
        phone.screenshot(path=SCREENSHOTS / "class-dashboard-390.png", full_page=True)
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, phone.evaluate(
            WIDER_THAN_THE_SCREEN
        )
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        for context in contexts:
            context.close()
