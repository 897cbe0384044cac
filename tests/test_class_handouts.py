"""Hand-outs: an instructor hands out a starting state, every student restores it as their own.

Over real HTTP, as the instructor, the students and a student trying what is not theirs
would send them; the hand-out's file and the database are read to check what travelled.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from helpers import is_problem, join
from test_snapshots import rows_of

from sandbox import Sandbox
from sandbox.db import DATABASE_FILE
from sandbox.modules.encryption.keys import keys_in

PASSWORD = "a long enough password"


def instructor(room) -> requests.Session:
    """Log in as the class's first instructor, as a notebook does (a token header)."""
    password = room.app.extensions["sandbox.class_first_password"]
    login = requests.post(
        f"{room.url}/class/login", json={"name": "instructor", "password": password}, timeout=30
    )
    assert login.status_code == 200, login.text
    session = requests.Session()
    session.headers["X-Sandbox-Token"] = login.json()["token"]
    return session


def prepared(room):
    """A workspace the instructor joined and set up: encryption on, an account logged in
    with a token, a lesson note, a solved challenge."""
    prep = join(room, "Teacher")
    for module in ("auth", "encryption"):
        prep.switch(module, {"enabled": True})
    account = {"username": "demo", "password": PASSWORD}
    assert prep.post("auth/register", json=account).status_code == 201
    assert prep.post("auth/login", json=account).status_code == 200
    token = prep.post("auth/tokens", json={"name": "nb", "scope": "read"})
    assert token.status_code == 201, token.text
    note = {"title": "Lesson 3 start", "body": "the body to work on"}
    assert prep.post("api/notes", json=note).status_code == 201
    assert prep.get("server/status/418").status_code == 418  # a solved challenge
    assert prep.get("sandbox/progress").json()["solved"] >= 1
    return prep, token.json()["token"]


def bodies(data_dir: Path, workspace: str) -> list[str]:
    conn = sqlite3.connect(data_dir / DATABASE_FILE)
    try:
        return [
            b for (b,) in conn.execute("select body from notes where workspace = ?", [workspace])
        ]
    finally:
        conn.close()


def fernet_of(path: Path) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys_in(path.read_text())])


def test_students_restore_a_hand_out_as_their_own_and_newcomers_start_from_it(room, ada):
    data_dir = Path(room.app.instance_path)
    prep, prep_token = prepared(room)
    teacher = instructor(room)
    made = teacher.post(
        f"{room.url}/class/api/handouts",
        json={"name": "lesson-3", "workspace": prep.workspace, "start": True},
    )
    assert made.status_code == 201, made.text
    assert made.json()["taken_of"] == prep.workspace and made.json()["starts_new_students"]

    # What the file carries: the workspace's rows, no login, no progress, no class account.
    conn = sqlite3.connect(data_dir / "handouts" / "lesson-3.db")
    try:
        tables = {n for (n,) in conn.execute("select name from sqlite_master where type='table'")}
        count = {t: conn.execute(f'select count(*) from "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()
    assert count["notes"] >= 1 and count["users"] == 1 and count["module_state"] >= 2
    assert count["sessions"] == count["tokens"] == count["progress"] == 0
    assert not {t for t in tables if t.startswith("class_")}  # no roster, no instructor hash

    listed = ada.get("sandbox/snapshots").json()["snapshots"]
    assert listed == [
        {
            "name": "class:lesson-3",
            "from": "your instructor",
            "created_at": made.json()["created_at"],
            "bytes": made.json()["bytes"],
            "notes": made.json()["notes"],
            "rows": made.json()["rows"],
            "starts_new_students": True,
        }
    ]
    prep_rows = rows_of(data_dir, prep.workspace)
    restored = ada.post("sandbox/snapshots/class:lesson-3/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["from"] == "your instructor"

    # No login travelled: the instructor's API token opens nothing in Ada's workspace, but
    # the account did, so she logs in as it.
    me = ada.get("auth/me", headers={"Authorization": f"Bearer {prep_token}"})
    assert me.status_code == 401, me.text
    assert ada.post("auth/login", json={"username": "demo", "password": PASSWORD}).ok
    # Ada's workspace holds the lesson, under her workspace id; the instructor's is untouched.
    items = ada.get("api/notes?limit=100").json()["items"]
    assert {n["title"]: n["body"] for n in items}["Lesson 3 start"] == "the body to work on"
    modules = ada.get("sandbox/modules").json()
    assert {m["name"]: m["enabled"] for m in modules["modules"]}["encryption"] is True
    assert rows_of(data_dir, prep.workspace) == prep_rows
    mine_now = rows_of(data_dir, ada.workspace)
    assert len(mine_now["notes"]) == count["notes"] and len(mine_now["users"]) == 1
    # Her own key, not the instructor's: the bodies open with hers only.
    mine, theirs = (
        data_dir / "keys" / f"{ada.workspace}.key",
        data_dir / "keys" / f"{prep.workspace}.key",
    )
    assert keys_in(mine.read_text()) and not set(keys_in(mine.read_text())) & set(
        keys_in(theirs.read_text())
    )
    stored = bodies(data_dir, ada.workspace)
    assert stored and all(fernet_of(mine).decrypt(b.encode()) for b in stored)
    with pytest.raises(InvalidToken):
        fernet_of(theirs).decrypt(stored[0].encode())
    # Progress is her own: the hand-out solved nothing for her.
    assert ada.get("sandbox/progress").json()["solved"] == 0

    # A student who joins now starts from it.
    carol = requests.post(
        f"{room.url}/class/join",
        json={"name": "Carol", "code": _code(room)},
        timeout=30,
    )
    assert carol.status_code == 201, carol.text
    assert carol.json()["started_from"] == "class:lesson-3"
    as_carol = requests.Session()
    as_carol.headers["X-Sandbox-Token"] = carol.json()["token"]
    login = {"username": "demo", "password": PASSWORD}
    assert as_carol.post(carol.json()["url"] + "auth/login", json=login, timeout=30).ok
    carols = as_carol.get(carol.json()["url"] + "api/notes?limit=100", timeout=30).json()["items"]
    assert "Lesson 3 start" in {n["title"] for n in carols}

    # Unmarked, newcomers start from the class's usual start again.
    off = teacher.patch(f"{room.url}/class/api/handouts/lesson-3", json={"start": False})
    assert off.status_code == 200 and off.json()["starts_new_students"] is False
    dave = requests.post(
        f"{room.url}/class/join", json={"name": "Dave", "code": _code(room)}, timeout=30
    )
    assert dave.status_code == 201 and "started_from" not in dave.json()
    actions = teacher.get(f"{room.url}/class/api/actions").json()["actions"]
    assert any(a["action"] == "hand-out" and "lesson-3" in a["detail"] for a in actions)


def _code(room) -> str:
    from sandbox.classroom import join_code

    return join_code(room.app)


def test_a_students_snapshot_can_be_handed_out_from_the_instructors_notebook(room, ada, bob):
    prep = join(room, "Teacher")
    assert prep.post("api/notes", json={"title": "kept in the snapshot", "body": "x"}).ok
    assert prep.post("sandbox/snapshots", json={"name": "ready"}).status_code == 201
    assert prep.post("api/notes", json={"title": "after the snapshot", "body": "x"}).ok
    token = instructor(room).headers["X-Sandbox-Token"]
    sb = Sandbox.connect(room.url, token=token)
    picked = sb.get("/class/api/students/" + prep.workspace + "/snapshots").json()
    assert [s["name"] for s in picked["snapshots"]] == ["ready"]
    made = sb.hand_out("lesson-1", prep.workspace, snapshot="ready")
    assert made["name"] == "lesson-1" and made["starts_new_students"] is False
    assert [row["name"] for row in sb.handouts()] == ["lesson-1"]

    student = Sandbox.connect(ada.url, token=ada.token)
    assert [(r["name"], r["from"]) for r in student.snapshots()] == [
        ("class:lesson-1", "your instructor")
    ]
    assert student.restore("class:lesson-1")["status"] == "restored"
    titles = {n["title"] for n in ada.get("api/notes?limit=100").json()["items"]}
    assert "kept in the snapshot" in titles and "after the snapshot" not in titles


def test_a_student_cannot_hand_out_change_the_hand_out_or_reach_a_classmates_snapshot(
    room, ada, bob
):
    data_dir = Path(room.app.instance_path)
    teacher = instructor(room)
    assert bob.post("api/notes", json={"title": "bob's secret", "body": "x"}).ok
    assert bob.post("sandbox/snapshots", json={"name": "mine"}).status_code == 201
    made = teacher.post(
        f"{room.url}/class/api/handouts", json={"name": "start", "workspace": bob.workspace}
    )
    assert made.status_code == 201, made.text
    handout = data_dir / "handouts" / "start.db"
    before = handout.read_bytes()

    # Handing out is the instructor's: a student's token is a 403, none a 401.
    body = {"name": "mine", "workspace": bob.workspace, "snapshot": "mine"}
    is_problem(ada.session.post(f"{room.url}/class/api/handouts", json=body), 403)
    is_problem(requests.post(f"{room.url}/class/api/handouts", json=body, timeout=30), 401)
    is_problem(ada.session.get(f"{room.url}/class/api/students/{bob.workspace}/snapshots"), 403)
    is_problem(ada.session.delete(f"{room.url}/class/api/handouts/start"), 403)

    # The hand-out is read-only to students: no delete, no snapshot under its name.
    refused = is_problem(ada.request("DELETE", "sandbox/snapshots/class:start"), 403)
    assert "your instructor's hand-out" in refused["detail"]
    is_problem(ada.post("sandbox/snapshots", json={"name": "class:start"}), 403)
    assert handout.read_bytes() == before

    # A classmate's snapshot is out of reach, by its name or by a crafted one.
    is_problem(ada.post("sandbox/snapshots/mine/restore"), 404)
    for crafted in (
        f"class:..%2Fsnapshots%2F{bob.workspace}%2Fmine",
        f"class:..%2F..%2Fsnapshots%2F{bob.workspace}%2Fmine",
        f"..%2F{bob.workspace}%2Fmine",
        "class:",
        "class:START",
        "class:nothing",
        "class:%00",
    ):
        answer = ada.post(f"sandbox/snapshots/{crafted}/restore")
        assert 400 <= answer.status_code < 500, (crafted, answer.status_code, answer.text)
        assert answer.headers["Content-Type"] == "application/problem+json", crafted
    titles = {n["title"] for n in ada.get("api/notes?limit=100").json()["items"]}
    assert "bob's secret" not in titles

    # The instructor's crafted names are 4xx problems too, and make no file.
    for bad in (
        {"name": "../x", "workspace": bob.workspace},
        {"name": "x", "workspace": "../../etc"},
        {"name": "x", "workspace": bob.workspace, "snapshot": "../../class"},
        {"name": "x", "workspace": "nosuchworkspace1"},
        {"name": "x", "workspace": bob.workspace, "snapshot": "typo"},
        {"name": "start", "workspace": bob.workspace},  # taken: 409, the old one kept
    ):
        answer = teacher.post(f"{room.url}/class/api/handouts", json=bad)
        assert answer.status_code in (404, 409, 422), (bad, answer.status_code, answer.text)
    assert sorted(p.name for p in (data_dir / "handouts").iterdir()) == ["start.db"]
    assert handout.read_bytes() == before
    is_problem(teacher.patch(f"{room.url}/class/api/handouts/typo", json={"start": True}), 404)


def test_the_dashboard_hands_out_and_a_students_page_restores_it(browser, room, ada, bob):
    from playwright.sync_api import expect

    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    assert ada.post("api/notes", json={"title": "from the dashboard", "body": "x"}).ok
    password = room.app.extensions["sandbox.class_first_password"]
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{room.url}/class/login")
        page.get_by_label("Name").fill("instructor")
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page.locator("[data-handouts-empty]")).to_be_visible()
        page.locator(f'tr[data-student="{ada.workspace}"]').get_by_role("link", name="Ada").click()
        form = page.locator("[data-handout-form]")
        expect(form).to_be_visible()
        form.locator("[data-handout-name]").fill("lesson-2")
        form.get_by_label("New students start from this").check()
        form.get_by_role("button", name="Hand out").click()
        confirm = page.locator("dialog[data-confirm]")
        expect(confirm).to_contain_text("Hand out class:lesson-2?")
        confirm.get_by_role("button", name="Hand out").click()
        expect(page.locator(".toast-success")).to_contain_text("class:lesson-2")
        row = page.locator("[data-handout-rows] tr")
        expect(row).to_contain_text("class:lesson-2")
        expect(row).to_contain_text("start from it")

        student = context.new_page()
        student.on("pageerror", lambda error: errors.append(str(error)))
        student.goto(f"{bob.url}?token={bob.token}#snapshots")
        handout = student.locator('tr[data-snapshot="class:lesson-2"]')
        expect(handout).to_contain_text("from your instructor")
        expect(handout.get_by_role("button", name="Delete")).to_have_count(0)
        student.once("dialog", lambda dialog: dialog.accept())
        handout.get_by_role("button", name="Restore").click()
        expect(student.locator(".toast-success")).to_contain_text("class:lesson-2")
        titles = {n["title"] for n in bob.get("api/notes?limit=100").json()["items"]}
        assert "from the dashboard" in titles
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        context.close()


def test_a_restore_keeps_the_modules_the_class_has_locked(room, ada):
    ada.switch("auth", {"enabled": True})
    assert ada.post("sandbox/snapshots", json={"name": "auth-on"}).status_code == 201
    teacher = instructor(room)
    rule = {"enabled": False, "locked": True}
    assert teacher.patch(f"{room.url}/class/api/modules/auth", json=rule).status_code == 200
    restored = ada.post("sandbox/snapshots/auth-on/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["locked_modules_reset"] == ["auth off"]
    modules = {m["name"]: m["enabled"] for m in ada.get("sandbox/modules").json()["modules"]}
    assert modules["auth"] is False  # the snapshot's switch does not undo the lock
