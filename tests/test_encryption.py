"""The encryption module: bodies at rest, crash-safe switching, scrubbing, rotation, tampering,
share links, the demo and quiz, HTTPS and what a wire tap sees."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from helpers import free_port, is_problem, serve, start_app

from sandbox import create_app
from sandbox.db import DATABASE_FILE
from sandbox.modules.encryption import keys, share, switch, tls
from sandbox.modules.encryption.transform import is_token
from sandbox.modules.encryption.wire import Tap

ROOT = Path(__file__).resolve().parent.parent
ON, OFF = {"enabled": True}, {"enabled": False}
PW = "correct horse battery"

BODIES = [
    "",
    "plain ascii",
    "unicode: é ü 中文 🙂 \u200b zero-width",
    "line\nbreaks\r\nand\ttabs",
    "x" * 100_000,  # the largest body a note may have
    Fernet(Fernet.generate_key()).encrypt(b"a token from another key").decode(),
    "gAAAAA looks like the start of a token, but is not one",
]


# --- helpers ---


def data_dir(app) -> Path:
    """Return the app's data dir."""
    return Path(app.instance_path)


def local_ring(app) -> keys.KeyRing:
    """Return the key ring of the server's own workspace (encryption.key)."""
    return app.extensions["encryption.keys"].get(app.config["SANDBOX_WORKSPACE"])


def rows(app, sql: str, params=()) -> list[tuple]:
    """Read rows straight from the database file, around the server."""
    conn = sqlite3.connect(data_dir(app) / DATABASE_FILE)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def execute(app, sql: str, params=()) -> None:
    """Change the database file around the server, as an attacker with the file could."""
    conn = sqlite3.connect(data_dir(app) / DATABASE_FILE)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def key_ring(app) -> MultiFernet:
    """Return the keys in the key file, as a MultiFernet."""
    lines = (data_dir(app) / keys.KEY_FILE).read_text().splitlines()
    return MultiFernet([Fernet(k) for k in lines if k and not k.startswith("#")])


def events(client, response) -> list[dict]:
    """Return the events of a response's record (test client or live server)."""
    trace = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}")
    return trace.json()["events"] if callable(trace.json) else trace.json["events"]


def messages(client, response) -> list[str]:
    """Return the messages of a response's events."""
    return [e["message"] for e in events(client, response)]


def solved(client) -> set[str]:
    """Return the ids of the solved challenges."""
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def tamper(token: str) -> str:
    """Change one character in the middle of a token, keeping it the shape of a token."""
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


def all_notes(get) -> list[dict]:
    """Page through /api/notes with a GET function; return every note."""
    items, offset = [], 0
    while True:
        page = get(f"/api/notes?limit=100&offset={offset}")
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if not page.json()["next"]:
            return items
        offset += 100


# --- off by default, and off means plain text ---


def test_off_by_default_its_routes_answer_the_module_off_problem(client):
    assert client.get("/sandbox/modules/encryption").json["enabled"] is False
    for response in (
        client.get("/encryption/status"),
        client.post("/api/notes/1/share", json={}),
        client.post("/encryption/demo", json={"text": "x"}),
    ):
        assert is_problem(response, 404)["module"] == "encryption"


def test_off_bodies_are_stored_as_plain_text_and_the_record_says_so(app, client):
    response = client.post("/api/notes", json={"title": "t", "body": "plain as day"})
    note_id = response.json["id"]
    assert rows(app, "select body from notes where id = ?", [note_id]) == [("plain as day",)]
    assert any(
        m.startswith("encryption off: note bodies are stored as plain text")
        for m in messages(client, response)
    )
    assert not (data_dir(app) / keys.KEY_FILE).exists()  # no key until it is first needed


# --- on: ciphertext in the database, plain text through the API ---


def test_round_trip_on_and_off_keeps_every_note_over_http(app):
    with serve(app) as live:
        ids = [
            live.post("/api/notes", json={"title": f"n{i}", "body": body}).json()["id"]
            for i, body in enumerate(BODIES)
        ]
        expected = {i: b for i, b in zip(ids, BODIES, strict=True)}
        for _ in range(2):  # on, off, on, off: nothing drifts
            assert live.request("PATCH", "/sandbox/modules/encryption", json=ON).ok
            stored = dict(rows(app, "select id, body from notes"))
            ring = key_ring(app)
            for note_id, body in expected.items():
                assert is_token(stored[note_id])  # the empty body too: even its size is hidden
                assert ring.decrypt(stored[note_id].encode()).decode() == body
                assert live.get(f"/api/notes/{note_id}").json()["body"] == body
            listed = {n["id"]: n["body"] for n in all_notes(live.get)}
            assert {i: listed[i] for i in ids} == expected
            assert live.request("PATCH", "/sandbox/modules/encryption", json=OFF).ok
            stored = dict(rows(app, "select id, body from notes"))
            assert {i: stored[i] for i in ids} == expected
            assert {n["id"]: n["body"] for n in all_notes(live.get) if n["id"] in expected} == (
                expected
            )


def test_writes_while_on_are_encrypted_before_the_insert(app, client):
    client.patch("/sandbox/modules/encryption", json=ON)
    response = client.post("/api/notes", json={"title": "Diary", "body": "dear diary"})
    assert response.json["body"] == "dear diary"
    note_id = response.json["id"]
    assert any(
        m.startswith("body encrypted before it is stored") for m in messages(client, response)
    )
    record = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json
    insert = next(s for s in record["sql"] if s["sql"].startswith("insert into notes"))
    assert "dear diary" not in str(insert) and "gAAAAA" in str(insert)
    client.patch(f"/api/notes/{note_id}", json={"body": "dear diary, again"})
    client.put(f"/api/notes/{note_id}", json={"title": "Diary", "body": "third"})
    (stored,) = rows(app, "select body from notes where id = ?", [note_id])[0]
    assert key_ring(app).decrypt(stored.encode()) == b"third"
    before = stored
    client.patch(f"/api/notes/{note_id}", json={"title": "Renamed"})  # the body is left alone
    assert rows(app, "select body from notes where id = ?", [note_id]) == [(before,)]
    assert client.get(f"/api/notes/{note_id}").json["body"] == "third"


def test_titles_and_tags_stay_plain_and_a_search_no_longer_finds_body_words(app, client):
    client.post("/api/notes", json={"title": "Bank", "body": "PIN is swordfish", "tags": ["money"]})
    assert client.get("/api/notes?q=swordfish").json["total"] == 1
    client.patch("/sandbox/modules/encryption", json=ON)
    assert rows(app, "select title, tags from notes where title = 'Bank'") == [
        ("Bank", '["money"]')
    ]
    assert client.get("/api/notes?q=swordfish").json["total"] == 0  # the body is ciphertext
    assert client.get("/api/notes?q=Bank").json["total"] == 1  # the title is not
    assert client.get("/api/notes?tag=money").json["total"] == 1


def test_a_plain_body_written_around_the_store_is_shown_and_said_never_guessed(app, client):
    client.patch("/sandbox/modules/encryption", json=ON)
    execute(
        app,
        "insert into notes (workspace, owner, title, body, tags, created_at, updated_at) "
        "values ('local', 'guest', 'around', 'written with sqlite3', '[]', 'x', 'x')",
    )
    (note_id,) = rows(app, "select id from notes where title = 'around'")[0]
    response = client.get(f"/api/notes/{note_id}")
    assert response.json["body"] == "written with sqlite3"
    found = [e for e in events(client, response) if e.get("plaintext_found") == note_id]
    assert found and "not encrypted" in found[0]["message"]
    assert client.get("/encryption/status").json["not_encrypted"] == 1


def test_notes_in_memory_follow_the_switch_too(app, client):
    client.patch("/sandbox/modules/database", json=OFF)
    note_id = client.post("/api/notes", json={"title": "m", "body": "in memory"}).json["id"]
    client.patch("/sandbox/modules/encryption", json=ON)
    stored = app.extensions["sandbox.memory_notes"]._notes["local"][note_id]["body"]
    assert is_token(stored)
    assert client.get(f"/api/notes/{note_id}").json["body"] == "in memory"
    assert client.post("/encryption/rotate").status_code == 200
    assert client.get(f"/api/notes/{note_id}").json["body"] == "in memory"
    client.patch("/sandbox/modules/encryption", json=OFF)
    stored = app.extensions["sandbox.memory_notes"]._notes["local"][note_id]["body"]
    assert stored == "in memory"


def test_a_second_process_switching_with_a_stale_view_does_not_encrypt_twice(tmp_path):
    config = {"SANDBOX_DATA_DIR": str(tmp_path)}
    first, second = create_app(config).test_client(), create_app(config).test_client()
    assert second.get("/sandbox/modules/encryption").json["enabled"] is False  # cached: off
    first.patch("/sandbox/modules/encryption", json=ON)
    # The second server still believes encryption is off; the switch reads the stored state.
    assert second.patch("/sandbox/modules/encryption", json=ON).status_code == 200
    bodies = [n["body"] for n in first.get("/api/notes").json["items"]]
    assert bodies and not any(is_token(b) for b in bodies)


# --- the key ---


def test_the_key_file_is_made_on_first_use_mode_0600_and_only_its_fingerprint_shows(app, client):
    path = data_dir(app) / keys.KEY_FILE
    assert not path.exists()
    client.patch("/sandbox/modules/encryption", json=ON)
    assert path.exists()
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    status = client.get("/encryption/status").json
    (line,) = [k for k in path.read_text().splitlines() if not k.startswith("#")]
    assert status["key"] == keys.fingerprint(line.encode()) and len(status["key"]) == 16
    assert line not in str(status) and status["encrypted"] == status["notes_in_database"] == 3
    assert status["keys_in_file"] == 1 and status["scrub_pending"] is False
    # The data dir is the default `instance/` folder, which git ignores.
    assert "/instance/" in (ROOT / ".gitignore").read_text().splitlines()


def test_a_missing_key_is_a_clear_problem_not_a_guess(app, client):
    client.patch("/sandbox/modules/encryption", json=ON)
    (data_dir(app) / keys.KEY_FILE).unlink()
    problem = is_problem(client.get("/api/notes/1"), 500)
    assert problem["title"] == "Encryption key missing" and "backup" in problem["detail"]
    assert not (data_dir(app) / keys.KEY_FILE).exists()  # no new key made behind our back


# --- tampering ---


def test_a_tampered_ciphertext_is_refused_with_a_problem_and_the_record_says_why(app, client):
    client.patch("/sandbox/modules/encryption", json=ON)
    (token,) = rows(app, "select body from notes where id = 2")[0]
    execute(app, "update notes set body = ? where id = 2", [tamper(token)])
    response = client.get("/api/notes/2")
    problem = is_problem(response, 500)
    assert problem["title"] == "Note failed its integrity check" and problem["note"] == 2
    assert "HMAC" in problem["detail"] and "DELETE /api/notes/2" in problem["detail"]
    assert any(e.get("tampered") and e.get("note") == 2 for e in events(client, response))
    is_problem(client.get("/api/notes"), 500)  # a list never shows it either
    assert client.get("/api/notes/1").status_code == 200  # the others are fine
    # Switching off or rotating would have to decrypt it: refused, and nothing changes.
    before = rows(app, "select id, body from notes order by id")
    problem = is_problem(client.patch("/sandbox/modules/encryption", json=OFF), 409)
    assert problem["notes"] == [2]
    assert is_problem(client.post("/encryption/rotate"), 409)["notes"] == [2]
    assert rows(app, "select id, body from notes order by id") == before
    assert client.get("/sandbox/modules/encryption").json["enabled"] is True
    # Putting the original back makes it readable again; deleting it lets everything go on.
    execute(app, "update notes set body = ? where id = 2", [token])
    assert client.get("/api/notes/2").status_code == 200
    execute(app, "update notes set body = ? where id = 2", [tamper(token)])
    assert client.delete("/api/notes/2").status_code == 204
    assert client.patch("/sandbox/modules/encryption", json=OFF).status_code == 200


def test_a_token_made_with_another_key_is_refused_too(app, client):
    client.patch("/sandbox/modules/encryption", json=ON)
    stranger = Fernet(Fernet.generate_key()).encrypt(b"not ours").decode()
    execute(app, "update notes set body = ? where id = 1", [stranger])
    assert is_problem(client.get("/api/notes/1"), 500)["title"].startswith("Note failed")


# --- no plaintext left behind in the files ---


def read_files(app) -> bytes:
    """Return the bytes of sandbox.db, its -wal and its -shm, as a thief copying them would."""
    base = data_dir(app) / DATABASE_FILE
    return b"".join(
        Path(f"{base}{suffix}").read_bytes()
        for suffix in ("", "-wal", "-shm")
        if Path(f"{base}{suffix}").exists()
    )


def test_after_switching_on_no_plaintext_is_left_in_the_database_files(app):
    marker = "ZEBRA-CROSSING-7731"
    with serve(app) as live:
        created = [
            live.post("/api/notes", json={"title": "t", "body": f"{marker} {i} " * 800})
            for i in range(12)
        ]
        ids = [response.json()["id"] for response in created]
        for note_id in ids[:4]:  # old versions of these bodies stay behind as free space
            live.request("PATCH", f"/api/notes/{note_id}", json={"body": f"{marker} v2 " * 900})
        for note_id in ids[4:8]:  # deleted notes leave their pages on the free list
            live.request("DELETE", f"/api/notes/{note_id}")
        # Some of it in the main file, some only in the write-ahead log: both must be cleaned.
        conn = sqlite3.connect(data_dir(app) / DATABASE_FILE)
        conn.execute("pragma wal_checkpoint(passive)")
        conn.close()
        live.request("PATCH", f"/api/notes/{ids[8]}", json={"body": f"{marker} v3 " * 700})
        live.request("DELETE", f"/api/notes/{ids[9]}")
        assert read_files(app).count(marker.encode()) > 100  # the test can see plaintext
        response = live.request("PATCH", "/sandbox/modules/encryption", json=ON)
        assert response.ok
        assert marker.encode() not in read_files(app)
        assert marker.encode("utf-16-le") not in read_files(app)
        statements = [s["sql"] for s in live.trace(response)["sql"]]
        assert {"PRAGMA secure_delete=ON", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} <= set(
            statements
        )
        wal = Path(f"{data_dir(app) / DATABASE_FILE}-wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert live.get(f"/api/notes/{ids[0]}").json()["body"].startswith(f"{marker} v2")
        # Written while on: encrypted before the INSERT, so never on disk as plain text.
        live.post("/api/notes", json={"title": "new", "body": f"{marker} new " * 500})
        live.request("PATCH", f"/api/notes/{ids[10]}", json={"body": f"{marker} v4 " * 500})
        assert marker.encode() not in read_files(app)


def test_a_scrub_a_crash_interrupted_is_finished_at_the_next_start(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path)})
    conn = sqlite3.connect(data_dir(app) / DATABASE_FILE)
    conn.execute("pragma secure_delete=off")  # as many SQLite builds have it: deleting leaves bytes
    with conn:
        conn.execute("update notes set body = 'LEFTOVER-PLAINTEXT' where id = 1")
    with conn:
        conn.execute("delete from notes where id = 1")
        conn.execute(
            "insert into sandbox_meta (key, value) values (?, 'x')", [switch.SCRUB_PENDING]
        )
    conn.close()
    assert b"LEFTOVER-PLAINTEXT" in read_files(app)
    create_app({"SANDBOX_DATA_DIR": str(tmp_path)})  # the next start
    assert b"LEFTOVER-PLAINTEXT" not in read_files(app)
    assert rows(app, "select count(*) from sandbox_meta where key = ?", [switch.SCRUB_PENDING]) == [
        (0,)
    ]


# --- a crash in the middle of switching ---


def start(data: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """Start `python app.py` on a data dir; return the process and its URL."""
    return start_app(data, *args)


def body_of(note_id: int) -> str:
    """Return the 4,000-character body the crash test gives a note."""
    return (f"note {note_id}: " + "lorem ipsum dolor sit amet " * 200)[:4000]


def check_consistent(data: Path, url: str, session: requests.Session) -> bool:
    """Assert every note is readable and all in one state that matches the switch; return it."""
    enabled = session.get(url + "/sandbox/modules/encryption").json()["enabled"]
    conn = sqlite3.connect(data / DATABASE_FILE)
    stored = conn.execute("select id, body from notes where title like 'crash %'").fetchall()
    conn.close()
    assert len(stored) == 20_000
    if enabled:
        ring = MultiFernet(
            [Fernet(k) for k in (data / keys.KEY_FILE).read_text().split() if len(k) == 44]
        )
        assert all(ring.decrypt(body.encode()).decode() == body_of(i) for i, body in stored)
    else:
        assert all(body == body_of(i) for i, body in stored)
    return enabled


def switch_and_kill(data: Path, url: str, process: subprocess.Popen, enabled: bool) -> None:
    """Send the switch, then kill the server while the WAL grows (mid-transaction)."""
    wal = Path(f"{data / DATABASE_FILE}-wal")
    start_size = wal.stat().st_size if wal.exists() else 0
    answered = []

    def send() -> None:
        try:
            requests.patch(url + "/sandbox/modules/encryption", json={"enabled": enabled})
            answered.append(True)
        except requests.ConnectionError:
            pass

    thread = threading.Thread(target=send)
    thread.start()
    deadline = time.monotonic() + 30
    while (wal.stat().st_size if wal.exists() else 0) < start_size + 30_000_000:
        assert time.monotonic() < deadline, "the switch never started writing"
        time.sleep(0.002)
    process.kill()  # SIGKILL on POSIX: no cleanup, no goodbye, as in a power cut
    process.wait()
    thread.join()
    assert not answered, "the switch finished before the kill; make the notes bigger"


def test_killed_in_the_middle_of_switching_no_note_is_lost_or_half_done(tmp_path):
    create_app({"SANDBOX_DATA_DIR": str(tmp_path)})
    conn = sqlite3.connect(tmp_path / DATABASE_FILE)
    with conn:
        conn.executemany(
            "insert into notes (id, workspace, owner, title, body, tags, created_at, updated_at)"
            " values (?, 'local', 'guest', ?, ?, '[]', '2026-01-01', '2026-01-01')",
            [(i, f"crash {i}", body_of(i)) for i in range(100, 20_100)],
        )
    conn.close()
    process, url = start(tmp_path)
    try:
        switch_and_kill(tmp_path, url, process, True)
        process, url = start(tmp_path)
        with requests.Session() as session:
            assert check_consistent(tmp_path, url, session) is False  # rolled back, all of it
            notes = all_notes(lambda path: session.get(url + path))  # every note reads back
            assert {n["id"]: n["body"] for n in notes if n["title"].startswith("crash")} == {
                i: body_of(i) for i in range(100, 20_100)
            }
            assert session.patch(url + "/sandbox/modules/encryption", json=ON).ok  # no crash
            assert check_consistent(tmp_path, url, session) is True
        process.terminate()
        process.wait()
        process, url = start(tmp_path)
        switch_and_kill(tmp_path, url, process, False)  # and the other way round
        process, url = start(tmp_path)
        with requests.Session() as session:
            assert check_consistent(tmp_path, url, session) is True
            for note_id in (100, 10_000, 20_099):
                assert session.get(f"{url}/api/notes/{note_id}").json()["body"] == body_of(note_id)
    finally:
        process.terminate()
        process.wait()


# --- rotation ---


def test_rotation_re_encrypts_every_note_and_keeps_only_the_new_key(app, client):
    for i in range(30):
        client.post("/api/notes", json={"title": f"r{i}", "body": f"body {i} é"})
    client.patch("/sandbox/modules/encryption", json=ON)
    path = data_dir(app) / keys.KEY_FILE
    old_text = path.read_text()
    old_key = [k for k in old_text.splitlines() if not k.startswith("#")][0]
    before = {n["id"]: n["body"] for n in client.get("/api/notes?limit=100").json["items"]}
    stored_before = dict(rows(app, "select id, body from notes"))
    response = client.post("/encryption/rotate")
    assert response.status_code == 200
    answer = response.json
    assert answer["rotated"] == answer["notes"] == answer["readable_with_new_key"] == 33
    assert answer["lost"] == 0 and answer["retired"] == [keys.fingerprint(old_key.encode())]
    assert old_key not in path.read_text() and old_key not in response.get_data(as_text=True)
    assert answer["key"] == client.get("/encryption/status").json["key"]
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".encryption.key")]
    after = {n["id"]: n["body"] for n in client.get("/api/notes?limit=100").json["items"]}
    assert after == before
    stored_after = dict(rows(app, "select id, body from notes"))
    with pytest.raises(InvalidToken):  # the old key opens nothing any more
        Fernet(old_key.encode()).decrypt(stored_after[1].encode())
    assert all(stored_after[i] != stored_before[i] for i in stored_before)
    # A request that read a row just before the rotation may still hold old ciphertext:
    # for a minute this process may decrypt it, then the old key is gone for good.
    execute(app, "update notes set body = ? where id = 1", [stored_before[1]])
    assert client.get("/api/notes/1").json["body"] == before[1]
    local_ring(app)._retired_until = 0
    is_problem(client.get("/api/notes/1"), 500)
    execute(app, "update notes set body = ? where id = 1", [stored_after[1]])
    assert "encryption.rotate" in solved(client)
    event = next(e for e in events(client, response) if "rotated" in e)
    assert event["rotated"] == event["notes"] == 33 and event["lost"] == 0


def test_a_rotation_interrupted_after_writing_both_keys_loses_nothing(app, client):
    client.patch("/sandbox/modules/encryption", json=ON)
    ring = local_ring(app)
    old = ring.keys()
    ring.write([Fernet.generate_key(), *old])  # step 1 done, then the crash
    assert client.get("/api/notes/1").status_code == 200  # the old key still decrypts
    response = client.post("/api/notes", json={"title": "between", "body": "written between"})
    assert response.status_code == 201
    assert client.post("/encryption/rotate").json["notes"] == 4
    assert len(ring.keys()) == 1
    assert client.get(f"/api/notes/{response.json['id']}").json["body"] == "written between"


def test_rotation_waits_for_requests_still_writing_with_the_old_key(app):
    ring = local_ring(app)
    with app.app_context():
        ring.create()
        ring.for_writing()
        old = ring.primary()
        assert ring.wait_for_writers(keep="another key", timeout=0.05) is False
        assert ring.wait_for_writers(keep=old, timeout=0.05) is True
    # The app context ended: its write is done, so nothing holds the old key any more.
    assert ring.wait_for_writers(keep="another key", timeout=0.05) is True


# --- share links ---


@pytest.fixture
def on(app, client):
    client.patch("/sandbox/modules/encryption", json=ON)
    return client


def test_a_share_link_shows_the_note_to_anyone_who_has_it(app, on):
    response = on.post("/api/notes/1/share", json={"expires_in": 120})
    assert response.status_code == 200
    link = response.json
    assert link["expires_in"] == 120 and link["note_id"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", link["expires_at"])
    stranger = app.test_client()  # no cookie, no session: only the link
    shown = stranger.get(link["url"])
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert shown.json["title"] == "Welcome to the sandbox"
    assert shown.json["body"].startswith("Every request")
    # Signed is not encrypted: anyone can read what the link says.
    payload = link["url"].rsplit("/", 1)[1].split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b'"note":1' in decoded and b'"owner":"guest"' in decoded
    # The link is a credential: records keep it redacted.
    record = on.get(f"/sandbox/traces/{shown.headers['X-Sandbox-Trace']}").json
    assert record["path"] == "/encryption/shared/[redacted]"


def test_without_a_body_a_link_lasts_a_day(on):
    response = on.post("/api/notes/1/share")
    assert response.status_code == 200 and response.json["expires_in"] == 86400
    assert on.post("/api/notes/1/share", json={"expires_in": 60.0}).json["expires_in"] == 60


def test_a_tampered_link_is_refused_400_and_solves_the_challenge(on):
    url = on.post("/api/notes/1/share").json["url"]
    token = url.rsplit("/", 1)[1]
    payload, rest = token.split(".", 1)
    forged = (
        base64.urlsafe_b64encode(
            b'{"note":2,"owner":"guest","workspace":"local","expires":9999999999}'
        )
        .decode()
        .rstrip("=")
    )
    spelled_otherwise = token[:-3] + "\u200b" + token[-3:]  # base64 decoding would skip it
    for bad in (tamper(token), forged + "." + rest, token[:-2], spelled_otherwise, "a.b.c"):
        problem = is_problem(on.get(f"/encryption/shared/{bad}"), 400)
        assert problem["title"] == "Tampered link" and "tampered" in problem["detail"]
    assert "encryption.tampered_link" in solved(on)


def test_an_expired_link_is_gone_410(app, on):
    with app.test_request_context():
        token = share.make_token({"id": 1, "owner": "guest"}, int(time.time()) - 5)
    problem = is_problem(on.get(f"/encryption/shared/{token}"), 410)
    assert "expired" in problem["detail"]
    url = on.post("/api/notes/1/share", json={"expires_in": 1}).json["url"]
    assert on.get(url).status_code == 200
    time.sleep(1.1)
    assert "expired" in is_problem(on.get(url), 410)["detail"]


def test_a_link_to_a_deleted_note_is_404(on):
    url = on.post("/api/notes/3/share").json["url"]
    on.delete("/api/notes/3")
    assert "no longer exists" in is_problem(on.get(url), 404)["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in": 0}, "expires_in"),
        ({"expires_in": 7 * 86400 + 1}, "expires_in"),
        ({"expires_in": "60"}, "expires_in"),
        ({"expires_in": True}, "expires_in"),
        ({"expires_in": 1.5}, "expires_in"),
        ({"expires_in": 1e300}, "expires_in"),
        ({"expires_in": 10**400}, "expires_in"),
        ({"ttl": 60}, "ttl"),
    ],
)
def test_a_bad_expiry_is_a_422_naming_the_field(on, body, field):
    problem = is_problem(on.post("/api/notes/1/share", json=body), 422)
    assert [e["field"] for e in problem["errors"]] == [field]


def test_share_refusals(on):
    is_problem(on.post("/api/notes/999/share"), 404)
    is_problem(on.post("/api/notes/1/share", data="x", content_type="text/plain"), 415)
    is_problem(on.post("/api/notes/1/share", data="{", content_type="application/json"), 400)
    is_problem(on.post("/api/notes/1/share", json=[1]), 400)


def test_only_someone_who_can_read_a_note_may_share_it(app, on):
    alice, bob, stranger = app.test_client(), app.test_client(), app.test_client()
    assert on.patch("/sandbox/modules/auth", json=ON).status_code == 200
    for client, name in ((alice, "alice"), (bob, "bobby")):
        response = client.post("/auth/register", json={"username": name, "password": PW})
        assert response.status_code == 201, response.get_data(as_text=True)
    note_id = alice.post("/api/notes", json={"title": "Alice's", "body": "hers"}).json["id"]
    is_problem(bob.post(f"/api/notes/{note_id}/share"), 404)  # as if it did not exist
    is_problem(stranger.post(f"/api/notes/{note_id}/share"), 401)
    url = alice.post(f"/api/notes/{note_id}/share").json["url"]
    shown = stranger.get(url)  # nobody logged in: the link is the permission
    assert shown.status_code == 200 and shown.json["body"] == "hers"
    assert shown.json["shared_by"] == "alice"


# --- demo and quiz ---


def test_the_demo_shows_encoding_hashing_keyed_hashing_and_encryption(on):
    text = "attack at dawn é"
    first = on.post("/encryption/demo", json={"text": text}).json
    second = on.post("/encryption/demo", json={"text": text}).json
    got = {r["name"]: r for r in first["results"]}
    assert list(got) == ["base64", "sha256", "hmac_sha256", "fernet"]
    assert base64.b64decode(got["base64"]["output"]).decode() == text
    assert got["sha256"]["output"] == hashlib.sha256(text.encode()).hexdigest()
    assert got["hmac_sha256"]["output"] != hashlib.sha256(text.encode()).hexdigest()
    with pytest.raises(InvalidToken):  # without the key, the token is noise
        Fernet(Fernet.generate_key()).decrypt(got["fernet"]["output"].encode())
    # The demo shows the forms; whether each is reversible is the quiz's question.
    for result in first["results"]:
        assert not {"reversible", "reverse_with"} & set(result), result
        assert "reversible" not in str(result["kind"]) + str(result.get("key", ""))
    assert "derived from the app's secret" in got["hmac_sha256"]["key"]
    again = {r["name"]: r["output"] for r in second["results"]}
    assert again["sha256"] == got["sha256"]["output"]
    assert again["hmac_sha256"] == got["hmac_sha256"]["output"]
    assert again["fernet"] != got["fernet"]["output"]  # a random IV every time
    assert "encryption.hash_vs_encrypt" not in solved(on)


def test_the_quiz_checks_which_outputs_are_reversible_and_solves_the_challenge(on):
    wrong = on.post("/encryption/quiz", json={"reversible": ["base64", "sha256"]}).json
    assert wrong["correct"] is False
    assert [f["right"] for f in wrong["feedback"]] == [True, False, True, False]
    right = on.post("/encryption/quiz", json={"reversible": ["fernet", "base64"]})
    assert right.json["correct"] is True
    assert "encryption.hash_vs_encrypt" not in solved(on)  # the demo comes first
    on.post("/encryption/demo", json={"text": "x"})
    on.post("/encryption/quiz", json={"reversible": ["fernet", "base64"]})
    assert "encryption.hash_vs_encrypt" in solved(on)


def test_finding_ciphertext_with_the_sql_console_solves_the_challenge(on):
    response = on.post("/sandbox/sql", json={"sql": "select id, title from notes"})
    assert not any("ciphertext_seen" in e for e in events(on, response))
    response = on.post("/sandbox/sql", json={"sql": "select id, body from notes"})
    assert all(is_token(row[1]) for row in response.json["rows"])
    assert any(e.get("ciphertext_seen") == 3 for e in events(on, response))
    assert "encryption.ciphertext" in solved(on)


# --- bad input is a problem, never a 500 ---


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("POST", "/encryption/demo", {"json": {}}, 422),
        ("POST", "/encryption/demo", {"json": {"text": 42}}, 422),
        ("POST", "/encryption/demo", {"json": {"text": "x" * 10_001}}, 422),
        ("POST", "/encryption/demo", {"json": {"text": "x", "more": 1}}, 422),
        ("POST", "/encryption/demo", {"data": "text=x"}, 415),
        ("POST", "/encryption/demo", {"data": "[", "content_type": "application/json"}, 400),
        ("POST", "/encryption/quiz", {"json": {"reversible": "base64"}}, 422),
        ("POST", "/encryption/quiz", {"json": {"reversible": ["rot13"]}}, 422),
        ("POST", "/encryption/quiz", {"json": {"reversible": [{"a": 1}]}}, 422),
        ("POST", "/encryption/quiz", {"json": {}}, 422),
        ("GET", "/encryption/shared/" + "A" * 5000, {}, 400),
        ("GET", "/encryption/shared/%00%ff", {}, 400),
        ("GET", "/encryption/rotate", {}, 405),
        ("POST", "/api/notes/99999999999999999999/share", {}, 404),
    ],
)
def test_bad_input_is_a_problem_never_a_500(on, method, path, kwargs, status):
    is_problem(on.open(path, method=method, **kwargs), status)


def test_unicode_that_is_not_text_is_refused_by_the_demo(on):
    response = on.post(
        "/encryption/demo", data='{"text": "\\ud800"}', content_type="application/json"
    )
    is_problem(response, 400)


# --- in transit ---


def test_https_serves_tls_with_a_self_signed_certificate_in_the_data_dir(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--https", "--port", str(port), "--data-dir", str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cert = tmp_path / tls.CERT_FILE
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if cert.exists():
                    response = requests.get(url + "/sandbox/health", verify=str(cert), timeout=1)
                    break
            except requests.ConnectionError:
                pass
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        assert response.json()["status"] == "ok"
        assert (
            requests.get(f"https://localhost:{port}/server/get", verify=str(cert))
            .json()["url"]
            .startswith("https://localhost")
        )
        with pytest.raises(requests.exceptions.SSLError):  # not trusted unless told to
            requests.get(url + "/sandbox/health", timeout=5)
        with pytest.raises(requests.ConnectionError):  # plain HTTP gets no answer
            requests.get(f"http://127.0.0.1:{port}/sandbox/health", timeout=5)
        # A client that connects and says nothing does not stall the server for anyone else.
        with socket.create_connection(("127.0.0.1", port)):
            assert requests.get(url + "/sandbox/health", verify=str(cert), timeout=5).ok
        if os.name == "posix":
            assert stat.S_IMODE((tmp_path / tls.KEY_FILE).stat().st_mode) == 0o600
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert f"Serving on {url}/" in output and str(cert) in output


def test_a_certificate_is_reused_while_valid_and_replaced_when_missing_or_expiring(
    tmp_path, monkeypatch
):
    cert, key = tls.certificate(tmp_path)
    first = cert.read_bytes()
    assert tls.certificate(tmp_path) == (cert, key) and cert.read_bytes() == first
    key.unlink()  # a certificate without its key is no use: both are made again
    tls.certificate(tmp_path)
    assert cert.read_bytes() != first and key.exists()
    with monkeypatch.context() as patch:
        patch.setattr(tls, "VALID_DAYS", 3)  # expires within RENEW_BEFORE
        key.unlink()
        tls.certificate(tmp_path)
    expiring = cert.read_bytes()
    tls.certificate(tmp_path)
    assert cert.read_bytes() != expiring
    from cryptography import x509

    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "localhost" in names.value.get_values_for_type(x509.DNSName)
    assert [str(a) for a in names.value.get_values_for_type(x509.IPAddress)] == [
        "127.0.0.1",
        "::1",
    ]


def test_a_wire_tap_reads_plain_http_but_not_tls(app, tmp_path):
    secret = "my PIN is 4321"
    with serve(app) as live, Tap(int(live.url.rsplit(":", 1)[1])) as tap:
        requests.post(f"http://127.0.0.1:{tap.port}/api/notes", json={"title": "t", "body": secret})
        assert secret.encode() in tap.sent("client")
        assert b"Content-Type: application/json" in tap.sent("client")
        assert secret in tap.show()
    https_app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "tls")})
    server = tls.make_https_server(https_app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        cert = tmp_path / "tls" / tls.CERT_FILE
        with Tap(server.server_port) as tap:
            response = requests.post(
                f"https://127.0.0.1:{tap.port}/api/notes",
                json={"title": "t", "body": secret},
                verify=str(cert),
            )
            assert response.status_code == 201
            assert secret.encode() not in tap.sent("client")
            assert b"/api/notes" not in tap.sent("client") and b"HTTP/1.1" not in tap.sent("server")
            assert len(tap.sent("client")) > 100  # the bytes went by, unreadable
    finally:
        server.shutdown()
        server.server_close()


def test_the_share_operation_keeps_its_openapi_promise_with_encryption_on(tmp_path):
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path)})
    app.test_client().patch("/sandbox/modules/encryption", json=ON)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema["/api/notes/{note_id}/share"]["POST"]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case):
        case.validate_response(case.call())

    check()
