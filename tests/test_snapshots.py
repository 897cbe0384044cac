"""Snapshots: a workspace's notes, accounts, keys, switches and progress saved and put back."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect
from test_browser import open_page

from sandbox import Sandbox
from sandbox.db import DATABASE_FILE
from sandbox.handle import SandboxProblem
from sandbox.snapshots import LIMIT, workspace_tables

PASSWORD = "a long enough password"


def rows_of(data_dir: Path, workspace: str | None = None) -> dict[str, list[tuple]]:
    """Return every workspace row of every table, sorted: the state a snapshot must keep."""
    conn = sqlite3.connect(Path(data_dir) / DATABASE_FILE)
    try:
        found = {}
        for table in workspace_tables(conn):
            where, args = ("where workspace = ?", [workspace]) if workspace else ("", [])
            found[table] = sorted(
                conn.execute(f'select * from "{table}" {where}', args).fetchall(), key=repr
            )
        return found
    finally:
        conn.close()


def titles(client) -> list[str]:
    return sorted(n["title"] for n in client.get("/api/notes?limit=100").json["items"])


def test_a_restore_brings_back_every_row_switch_and_solved_challenge(app, client):
    data_dir = Path(app.instance_path)
    assert client.get("/server/status/418").status_code == 418  # solves server.teapot
    for module in ("auth", "caching"):
        assert client.patch(f"/sandbox/modules/{module}", json={"enabled": True}).status_code == 200
    account = {"username": "ada", "password": PASSWORD}
    assert client.post("/auth/register", json=account).status_code == 201
    assert client.post("/api/notes", json={"title": "mine", "body": "kept"}).status_code == 201
    saved, modules = rows_of(data_dir), client.get("/sandbox/modules").json
    solved = client.get("/sandbox/progress").json["solved"]
    assert solved >= 1 and saved["users"] and saved["module_state"]
    made = client.post("/sandbox/snapshots", json={"name": "before-reset"})
    assert made.status_code == 201, made.text
    assert made.json["name"] == "before-reset" and made.json["notes"] == 4

    assert client.post("/sandbox/reset").status_code == 200
    assert rows_of(data_dir) != saved

    restored = client.post("/sandbox/snapshots/before-reset/restore")
    assert restored.status_code == 200, restored.text
    assert rows_of(data_dir) == saved  # every table, every row, as it was
    assert client.get("/sandbox/modules").json == modules  # the cached switches were dropped
    assert client.get("/sandbox/progress").json["solved"] == solved
    assert client.post("/auth/login", json=account).status_code == 200
    assert "mine" in titles(client)


def test_a_restore_puts_back_the_key_the_notes_were_encrypted_with(app, client):
    assert client.patch("/sandbox/modules/encryption", json={"enabled": True}).status_code == 200
    assert client.post("/api/notes", json={"title": "secret", "body": "hidden"}).status_code == 201
    assert client.post("/sandbox/snapshots", json={"name": "encrypted"}).status_code == 201
    # Two rotations: the key that encrypted the snapshot's rows is gone from the key file.
    for _ in range(2):
        assert client.post("/encryption/rotate").status_code == 200
    key_file = Path(app.instance_path) / "encryption.key"
    rotated = key_file.read_text()

    assert client.post("/sandbox/snapshots/encrypted/restore").status_code == 200
    assert key_file.read_text() != rotated
    assert key_file.stat().st_mode & 0o077 == 0  # still readable by its owner only
    notes = client.get("/api/notes?limit=100").json["items"]
    assert {n["title"]: n["body"] for n in notes}["secret"] == "hidden"


def test_a_restore_makes_the_modules_forget_what_they_cached(client):
    assert client.patch("/sandbox/modules/caching", json={"enabled": True}).status_code == 200
    assert client.post("/sandbox/snapshots", json={"name": "three-notes"}).status_code == 201
    assert client.post("/api/notes", json={"title": "later", "body": "x"}).status_code == 201
    assert "later" in titles(client)  # the list is in the cache now
    assert client.post("/sandbox/snapshots/three-notes/restore").status_code == 200
    assert "later" not in titles(client)  # not a stale copy


def test_snapshots_are_listed_newest_first_and_deleted(client):
    for name in ("one", "two"):
        assert client.post("/sandbox/snapshots", json={"name": name}).status_code == 201
    listed = client.get("/sandbox/snapshots").json
    assert [s["name"] for s in listed["snapshots"]] == ["two", "one"]
    assert listed["limit"] == LIMIT
    assert client.delete("/sandbox/snapshots/one").status_code == 204
    assert [s["name"] for s in client.get("/sandbox/snapshots").json["snapshots"]] == ["two"]


@pytest.mark.parametrize("name", ["..", "Before", "a_b", "x" * 41, "", "é"])
def test_a_bad_name_is_a_422_saying_what_a_name_may_be(client, name):
    response = client.post("/sandbox/snapshots", json={"name": name})
    assert response.status_code == 422, response.text
    assert response.content_type == "application/problem+json"


@pytest.mark.parametrize("path", ["..", "UP", "a.db", "..%2F..%2Fsandbox"])
def test_a_bad_name_in_the_path_is_a_4xx_and_touches_no_file(app, client, path):
    for method, url in (("post", f"{path}/restore"), ("delete", path)):
        response = getattr(client, method)(f"/sandbox/snapshots/{url}")
        assert response.status_code in (400, 404), response.text
        assert response.content_type == "application/problem+json"
    assert (Path(app.instance_path) / DATABASE_FILE).is_file()


def test_unknown_duplicate_and_too_many_are_clear_problems(client):
    missing = client.post("/sandbox/snapshots/nope/restore")
    assert missing.status_code == 404 and "no snapshot named 'nope'" in missing.json["detail"]
    assert client.delete("/sandbox/snapshots/nope").status_code == 404
    assert client.post("/sandbox/snapshots", json={"name": "s0"}).status_code == 201
    twice = client.post("/sandbox/snapshots", json={"name": "s0"})
    assert twice.status_code == 409 and "DELETE /sandbox/snapshots/s0" in twice.json["detail"]
    for i in range(1, LIMIT):
        assert client.post("/sandbox/snapshots", json={"name": f"s{i}"}).status_code == 201
    full = client.post("/sandbox/snapshots", json={"name": "one-more"})
    assert full.status_code == 409 and str(LIMIT) in full.json["detail"]


def test_a_students_snapshot_holds_and_restores_their_rows_only(room, ada, bob):
    data_dir = Path(room.app.instance_path)
    for student in (ada, bob):
        note = {"title": f"{student.name}'s first", "body": "x"}
        assert student.post("api/notes", json=note).status_code == 201
    made = ada.post("sandbox/snapshots", json={"name": "mine"})
    assert made.status_code == 201, made.text
    snapshot = data_dir / "snapshots" / ada.workspace / "mine.db"
    conn = sqlite3.connect(snapshot)
    try:
        tables = workspace_tables(conn)
        kept = {w for t in tables for (w,) in conn.execute(f'select workspace from "{t}"')}
        names = {r[0] for r in conn.execute("select name from sqlite_master")}
    finally:
        conn.close()
    assert kept == {ada.workspace}  # no classmate's row
    assert "class_workspaces" not in names  # nor the class's roster

    # A classmate neither sees nor restores it.
    assert bob.get("sandbox/snapshots").json()["snapshots"] == []
    assert bob.post("sandbox/snapshots/mine/restore").status_code == 404
    assert bob.request("DELETE", "sandbox/snapshots/mine").status_code == 404

    assert ada.post("api/notes", json={"title": "later", "body": "x"}).status_code == 201
    assert bob.post("api/notes", json={"title": "bob later", "body": "x"}).status_code == 201
    bobs = rows_of(data_dir, bob.workspace)
    assert ada.post("sandbox/snapshots/mine/restore").status_code == 200
    ada_titles = {n["title"] for n in ada.get("api/notes?limit=100").json()["items"]}
    assert "Ada's first" in ada_titles and "later" not in ada_titles
    assert rows_of(data_dir, bob.workspace) == bobs  # Bob's rows untouched


def test_a_restore_racing_writes_leaves_one_whole_state(live):
    """Readers see the state before the restore or after it, never a mix; writes wait."""
    session = requests.Session()
    url = live.url
    assert session.post(f"{url}/api/notes", json={"title": "kept", "body": "x"}).ok
    assert session.post(f"{url}/sandbox/snapshots", json={"name": "base"}).status_code == 201
    kept_id = next(
        n["id"]
        for n in session.get(f"{url}/api/notes?limit=100").json()["items"]
        if n["title"] == "kept"
    )
    assert session.delete(f"{url}/api/notes/{kept_id}").status_code == 204
    later = 40
    for i in range(later):
        assert session.post(f"{url}/api/notes", json={"title": f"later-{i}", "body": "x"}).ok

    path = Path(live.app.instance_path) / DATABASE_FILE
    done, mixes, seen = threading.Event(), [], set()

    def read() -> None:
        conn = sqlite3.connect(path)
        try:
            while not done.is_set():
                got = {t for (t,) in conn.execute("select title from notes")}
                n_later = sum(t.startswith("later-") for t in got)
                state = ("kept" in got, n_later)
                seen.add(state)
                if state not in {(True, 0), (False, later)}:
                    mixes.append(state)
        finally:
            conn.close()

    written: list[str] = []

    def write(worker: int) -> None:
        with requests.Session() as own:
            for i in range(10):
                title = f"w{worker}-{i}"
                if own.post(f"{url}/api/notes", json={"title": title, "body": "x"}).ok:
                    written.append(title)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for thread in readers + writers:
        thread.start()
    restored = session.post(f"{url}/sandbox/snapshots/base/restore")
    for thread in writers:
        thread.join()
    done.set()
    for thread in readers:
        thread.join()
    assert restored.status_code == 200, restored.text
    assert not mixes, mixes
    assert (True, 0) in seen  # the readers did see the restored state
    final = {n["title"] for n in session.get(f"{url}/api/notes?limit=100").json()["items"]}
    assert "kept" in final and not any(t.startswith("later-") for t in final)
    # Every write went through, before the restore (then undone by it) or after (then kept).
    assert len(written) == 30


def test_the_notebook_handle_snapshots_and_restores():
    sb = Sandbox.start()
    try:
        sb.snapshot("before-encryption")
        sb.post("/api/notes", json={"title": "experiment", "body": "x"})
        table = sb.snapshots()
        assert [row["name"] for row in table] == ["before-encryption"]
        assert sb.restore("before-encryption")["status"] == "restored"
        assert "experiment" not in {n["title"] for n in sb.get("/api/notes").json()["items"]}
        with pytest.raises(SandboxProblem, match="no snapshot named 'typo'"):
            sb.restore("typo")
    finally:
        sb.stop()


def test_the_landing_page_saves_lists_restores_and_deletes_snapshots(browser, live):
    with open_page(browser, live.url + "/#snapshots") as page:
        expect(page.locator("[data-live]")).to_have_attribute("data-live", "on")
        expect(page.locator("[data-snapshots-empty]")).to_be_visible()

        page.get_by_label("Name").fill("Bad Name")
        page.get_by_role("button", name="Save a snapshot").click()
        expect(page.locator("#snapshot-name")).to_have_attribute("aria-invalid", "true")
        expect(page.locator(".toast-error")).to_contain_text("name")

        page.get_by_label("Name").fill("fresh")
        page.get_by_role("button", name="Save a snapshot").click()
        row = page.locator('tr[data-snapshot="fresh"]')
        expect(row).to_contain_text("fresh")
        expect(page.locator("[data-snapshots-empty]")).to_be_hidden()
        page.set_viewport_size({"width": 390, "height": 800})  # a phone: nothing sticks out
        outside = page.evaluate(
            "[...document.querySelectorAll('#snapshots *')]"
            ".filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1).length"
        )
        assert outside == 0
        box = row.get_by_role("button", name="Restore").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390  # not scrolled out of sight
        page.set_viewport_size({"width": 1280, "height": 900})

        live.get("/server/status/418")
        teapot = page.locator('[data-challenge="server.teapot"]')
        expect(teapot).to_have_attribute("data-solved", "true")
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Restore").click()
        expect(teapot).to_have_attribute("data-solved", "false")

        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Delete").click()
        expect(row).to_have_count(0)
        expect(page.locator("[data-snapshots-empty]")).to_be_visible()


def test_a_row_whose_id_a_classmate_took_since_comes_back_under_a_new_id(room, ada, bob):
    data_dir = Path(room.app.instance_path)
    made = ada.post("api/notes", json={"title": "newest", "body": "x"})
    assert made.status_code == 201
    assert ada.post("sandbox/snapshots", json={"name": "with-newest"}).status_code == 201
    assert ada.request("DELETE", f"api/notes/{made.json()['id']}").status_code == 204
    # SQLite gives the highest id again once it is free: now Bob's note holds it.
    taken = bob.post("api/notes", json={"title": "bob's", "body": "x"})
    assert taken.json()["id"] == made.json()["id"]
    bobs = rows_of(data_dir, bob.workspace)

    restored = ada.post("sandbox/snapshots/with-newest/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["renumbered"] == 1
    notes = {n["title"]: n["id"] for n in ada.get("api/notes?limit=100").json()["items"]}
    assert notes["newest"] > taken.json()["id"]  # back, under a new id
    assert rows_of(data_dir, bob.workspace) == bobs  # Bob's note kept its id and its text
    record = ada.get(f"sandbox/traces/{restored.headers['X-Sandbox-Trace']}").json()
    assert any("under new ids" in e["message"] for e in record["events"])


def test_an_account_under_a_new_id_keeps_its_tokens(room, ada, bob):
    account = {"username": "ann", "password": PASSWORD}
    ada.switch("auth", {"enabled": True})
    assert ada.post("auth/register", json=account).status_code == 201
    assert ada.post("auth/login", json=account).status_code == 200
    made = ada.post("auth/tokens", json={"name": "nb", "scope": "read"})
    assert made.status_code == 201, made.text
    assert ada.post("sandbox/snapshots", json={"name": "with-ann"}).status_code == 201
    assert ada.post("sandbox/reset").status_code == 200  # Ann's row is gone: her id is free
    bob.switch("auth", {"enabled": True})
    assert bob.post("auth/register", json={"username": "bobby", "password": PASSWORD}).ok

    restored = ada.post("sandbox/snapshots/with-ann/restore")
    assert restored.status_code == 200, restored.text
    assert restored.json()["renumbered"] >= 1
    me = ada.get("auth/me", headers={"Authorization": f"Bearer {made.json()['token']}"})
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "ann"  # the token follows its account to the new id


def index_names(app) -> set[str]:
    conn = sqlite3.connect(Path(app.instance_path) / DATABASE_FILE)
    try:
        return {n for (n,) in conn.execute("select name from sqlite_master where type = 'index'")}
    finally:
        conn.close()


def test_a_restore_makes_the_indexes_agree_with_the_restored_rows(app, client):
    made = client.post("/indexing/indexes", json={"table": "orders", "columns": ["customer"]})
    assert made.status_code == 201, made.text
    kept = made.json["name"]
    assert client.post("/sandbox/snapshots", json={"name": "one-index"}).status_code == 201
    assert client.delete(f"/indexing/indexes/{kept}").status_code == 204
    later = client.post("/indexing/indexes", json={"table": "orders", "columns": ["status"]})
    assert later.status_code == 201, later.text
    assert client.patch("/sandbox/modules/indexing", json={"enabled": False}).status_code == 200
    assert "notes_by_owner_created" not in index_names(app)  # off: the sandbox's dropped too

    assert client.post("/sandbox/snapshots/one-index/restore").status_code == 200
    present = index_names(app)
    assert kept in present and later.json["name"] not in present
    assert "notes_by_owner_created" in present  # on in the snapshot: the sandbox's are back
    listed = [i["name"] for i in client.get("/indexing/indexes").json["indexes"]]
    assert kept in listed
    assert client.delete(f"/indexing/indexes/{kept}").status_code == 204  # still droppable


def test_a_job_saved_while_queued_runs_after_the_restore(app, client):
    from sandbox.modules.jobs.runner import job_queue

    assert client.patch("/sandbox/modules/jobs", json={"enabled": True}).status_code == 200
    queue = job_queue(app)
    queue.stop()  # no worker for a moment: the job waits in the queue
    try:
        queued = client.post("/api/notes/export")
        assert queued.status_code == 202, queued.text
        url = queued.headers["Location"]
        assert client.post("/sandbox/snapshots", json={"name": "queued"}).status_code == 201
    finally:
        queue.start()
    assert poll_job(client, url)["status"] == "done"  # its message is used up now

    restored = client.post("/sandbox/snapshots/queued/restore")
    assert restored.status_code == 200, restored.text
    job_id = url.rsplit("/", 1)[1]
    assert f"queued again: {job_id}" in restored.json["modules_did"]["jobs"]
    assert client.get(url).json["status"] in ("queued", "running", "done")
    job = poll_job(client, url)
    assert job["status"] == "done" and job["attempts"] == 1  # run again, once, from the start


def poll_job(client, url: str, seconds: float = 10) -> dict:
    deadline = time.monotonic() + seconds
    while (job := client.get(url).json)["status"] not in ("done", "failed"):
        assert time.monotonic() < deadline, f"job still {job['status']}: {job}"
        time.sleep(0.05)
    return job
