"""Class mode: every workspace's encryption key is its own (issue 8, "encryption keys").

Two students on one class server over real HTTP. What one does with encryption (switch
it on or off, rotate, share a note) never reads, changes or unlocks the other's notes,
and the status shows each only their own key.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from helpers import LiveServer, Student, class_app, is_problem, join, serve

from sandbox.db import DATABASE_FILE
from sandbox.modules.encryption import keys
from sandbox.modules.encryption.transform import is_token

ON, OFF = {"enabled": True}, {"enabled": False}


def bodies(student: Student) -> dict[int, str]:
    """Return every note body as the API shows it (decrypted), by id."""
    response = student.get("api/notes?limit=100")
    assert response.status_code == 200, response.text
    return {n["id"]: n["body"] for n in response.json()["items"]}


def data_dir(room: LiveServer) -> Path:
    return Path(room.app.instance_path)


def key_path(room: LiveServer, student: Student) -> Path:
    return data_dir(room) / keys.KEYS_DIR / f"{student.workspace}.key"


def ring_of(path: Path) -> MultiFernet:
    """Return the keys in a key file, as the server would use them."""
    lines = path.read_text().splitlines()
    return MultiFernet([Fernet(k) for k in lines if k and not k.startswith("#")])


def stored(room: LiveServer, student: Student) -> dict[int, str]:
    """Read a workspace's note bodies straight from the database file, around the server."""
    conn = sqlite3.connect(data_dir(room) / DATABASE_FILE)
    try:
        rows = conn.execute(
            "select id, body from notes where workspace = ?", (student.workspace,)
        ).fetchall()
    finally:
        conn.close()
    return dict(rows)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def both_on(ada: Student, bob: Student) -> None:
    """Both students switch encryption on and write a note of their own."""
    for student in (ada, bob):
        student.switch("encryption", ON)
        note = {"title": f"{student.name}'s secret", "body": f"only {student.name} reads this"}
        assert student.post("api/notes", json=note).status_code == 201


# --- a key of one's own ---


def test_each_student_who_switches_encryption_on_gets_a_key_of_their_own(room, ada, bob):
    folder = data_dir(room) / keys.KEYS_DIR
    ada.switch("encryption", ON)
    assert key_path(room, ada).is_file()
    assert not key_path(room, bob).exists()  # made on first switch-on, not before
    # The server's own workspace never switched encryption on: its key is not made either.
    assert not (data_dir(room) / keys.KEY_FILE).exists()
    if os.name == "posix":
        assert mode(folder) == 0o700 and mode(key_path(room, ada)) == 0o600
        folder.chmod(0o755)  # opened up behind the server's back: the next key takes it back
    bob.switch("encryption", ON)
    if os.name == "posix":
        assert mode(folder) == 0o700 and mode(key_path(room, bob)) == 0o600
    assert key_path(room, ada).read_text() != key_path(room, bob).read_text()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{s.workspace}.key" for s in (ada, bob)
    )
    # Every stored body of Ada's opens with Ada's key, and none with Bob's.
    ada_ring, bob_ring = ring_of(key_path(room, ada)), ring_of(key_path(room, bob))
    ada_stored = stored(room, ada)
    assert ada_stored and all(is_token(b) for b in ada_stored.values())
    assert {i: ada_ring.decrypt(b.encode()).decode() for i, b in ada_stored.items()} == bodies(ada)
    for body in ada_stored.values():
        with pytest.raises(InvalidToken):
            bob_ring.decrypt(body.encode())
    # A workspace id becomes a file name only if it is one the server makes.
    for bad in ("../encryption", "a/b", "", "x" * 64):
        with pytest.raises(ValueError):
            keys.key_file(bad, "local")


def test_the_status_shows_each_student_only_their_own_key(room, ada, bob):
    both_on(ada, bob)
    for student, other in ((ada, bob), (bob, ada)):
        status = student.get("encryption/status").json()
        (line,) = [k for k in key_path(room, student).read_text().split() if len(k) == 44]
        (others,) = [k for k in key_path(room, other).read_text().split() if len(k) == 44]
        assert status["key"] == keys.fingerprint(line.encode())
        assert status["key_file"] == f"keys/{student.workspace}.key"
        assert status["keys_in_file"] == 1 and status["key_file_exists"] is True
        assert status["notes_in_database"] == status["encrypted"] == len(stored(room, student))
        text = str(status)
        assert keys.fingerprint(others.encode()) not in text and other.workspace not in text
        assert line not in text and others not in text  # no key itself, ever


def test_the_demo_keys_are_each_workspaces_own_too(ada, bob):
    for student in (ada, bob):
        student.switch("encryption", ON)
    outputs = []
    for student in (ada, bob):
        results = student.post("encryption/demo", json={"text": "same text"}).json()["results"]
        outputs.append({r["name"]: r["output"] for r in results})
    assert outputs[0]["sha256"] == outputs[1]["sha256"]  # no key: the same for everyone
    assert outputs[0]["hmac_sha256"] != outputs[1]["hmac_sha256"]  # keyed: a key each


# --- rotation ---


def test_rotating_in_one_workspace_changes_neither_the_others_key_nor_notes(room, ada, bob):
    both_on(ada, bob)
    bob_key, bob_stat = key_path(room, bob).read_bytes(), key_path(room, bob).stat()
    bob_stored, bob_bodies = stored(room, bob), bodies(bob)
    ada_key, ada_bodies = key_path(room, ada).read_bytes(), bodies(ada)
    response = ada.post("encryption/rotate")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["notes"] == result["rotated"] == len(stored(room, ada)) == len(ada_bodies)
    assert result["key_file"] == f"keys/{ada.workspace}.key"
    assert key_path(room, ada).read_bytes() != ada_key and bodies(ada) == ada_bodies
    # Bob's key file: the same bytes, the same file (not even rewritten with the same key).
    after = key_path(room, bob).stat()
    assert key_path(room, bob).read_bytes() == bob_key
    assert (after.st_ino, after.st_mtime_ns) == (bob_stat.st_ino, bob_stat.st_mtime_ns)
    assert stored(room, bob) == bob_stored  # not one ciphertext of his re-encrypted
    assert bodies(bob) == bob_bodies
    assert "encryption.rotate" not in solved(bob)  # Ada's rotation is not Bob's challenge
    # And the other way round: Bob rotates, Ada's new key and notes stay as they are.
    ada_key, ada_stored = key_path(room, ada).read_bytes(), stored(room, ada)
    assert bob.post("encryption/rotate").json()["notes"] == len(bob_stored)
    assert key_path(room, ada).read_bytes() == ada_key and stored(room, ada) == ada_stored
    assert bodies(ada) == ada_bodies and bodies(bob) == bob_bodies


def test_rotations_and_writes_in_two_workspaces_at_once_lose_nothing(room, ada, bob):
    both_on(ada, bob)
    bob_key = key_path(room, bob).read_bytes()
    written: dict[int, str] = {}
    errors: list[str] = []
    go = threading.Event()

    def bob_writes() -> None:
        go.wait()
        for i in range(30):
            body = f"bob's note {i}"
            response = bob.post("api/notes", json={"title": f"n{i}", "body": body})
            if response.status_code != 201:
                errors.append(response.text)
            else:
                written[response.json()["id"]] = body

    def ada_rotates() -> None:
        go.wait()
        for _ in range(5):
            response = ada.post("encryption/rotate")
            if response.status_code != 200:
                errors.append(response.text)

    threads = [threading.Thread(target=f) for f in (bob_writes, ada_rotates)]
    for thread in threads:
        thread.start()
    go.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(written) == 30
    assert key_path(room, bob).read_bytes() == bob_key
    bob_ring = ring_of(key_path(room, bob))
    bob_stored = stored(room, bob)
    for note_id, body in written.items():
        assert bob_ring.decrypt(bob_stored[note_id].encode()).decode() == body
    assert {i: b for i, b in bodies(bob).items() if i in written} == written
    ada_keys = [k for k in key_path(room, ada).read_text().split() if len(k) == 44]
    assert len(ada_keys) == 1  # every rotation finished: one key left
    ada_ring = MultiFernet([Fernet(ada_keys[0])])
    for body in stored(room, ada).values():
        ada_ring.decrypt(body.encode())


# --- switching off ---


def test_switching_off_in_one_workspace_leaves_the_others_notes_encrypted(room, ada, bob):
    both_on(ada, bob)
    bob_key, bob_stored = key_path(room, bob).read_bytes(), stored(room, bob)
    bob_bodies, ada_bodies = bodies(bob), bodies(ada)
    ada.switch("encryption", OFF)
    assert stored(room, ada) == ada_bodies  # Ada's bodies: plain text again
    assert stored(room, bob) == bob_stored and all(is_token(b) for b in bob_stored.values())
    assert key_path(room, bob).read_bytes() == bob_key
    assert bodies(bob) == bob_bodies
    # Ada's key stays for when she switches on again; the notes she writes meanwhile are plain.
    assert key_path(room, ada).is_file()
    assert bob.get("encryption/status").json()["encrypted"] == len(bob_stored)


# --- share links ---


def test_a_share_link_from_one_workspace_never_opens_a_note_in_another(room, ada, bob):
    # Both keep notes in the server's memory (the database module off), where each
    # workspace numbers its notes from 1: Ada's note 1 and Bob's note 1 both exist, with
    # the same owner. Only the workspace the link signed tells them apart.
    for student in (ada, bob):
        student.switch("database", OFF)
        student.switch("encryption", ON)
        note = {"title": f"{student.name}'s diary", "body": f"dear diary, {student.name} here"}
        response = student.post("api/notes", json=note)
        assert response.status_code == 201, response.text
    ada_id = ada.post("api/notes", json={"title": "x", "body": "y"}).json()["id"] - 1
    bob_ids = set(bodies(bob))
    assert ada_id in bob_ids  # the same id in both workspaces: the attack has a target
    link = ada.post(f"api/notes/{ada_id}/share").json()["url"]
    assert link.startswith(ada.url)
    token = link.rsplit("/", 1)[1]
    # The link opens that one note for whoever holds it, a classmate without Ada's token too...
    assert requests.get(link, timeout=30).json()["body"] == "dear diary, Ada here"
    # ...and nothing else of Ada's workspace.
    assert requests.get(link.split("/encryption/")[0] + "/api/notes", timeout=30).status_code == 401
    assert ada.get(f"encryption/shared/{token}").json()["body"] == "dear diary, Ada here"
    # Bob sends Ada's link to his own workspace's URL: refused, neither note shown.
    replay = bob.get(f"encryption/shared/{token}")
    problem = is_problem(replay, 404)
    assert problem["title"] == "Link from another workspace"
    assert "diary" not in replay.text
    # Not counted as a tampered link: the signature is genuine, only the place is wrong.
    assert "encryption.tampered_link" not in solved(bob)
    # Nor outside any workspace, on the class server's own URL.
    outside = requests.get(f"{room.url}/encryption/shared/{token}", timeout=30)
    assert 400 <= outside.status_code < 500 and "diary" not in outside.text


def test_a_share_link_over_sql_notes_is_refused_in_another_workspace_too(room, ada, bob):
    both_on(ada, bob)
    (ada_id,) = [i for i, b in bodies(ada).items() if b == "only Ada reads this"]
    token = ada.post(f"api/notes/{ada_id}/share").json()["url"].rsplit("/", 1)[1]
    replay = bob.get(f"encryption/shared/{token}")
    assert is_problem(replay, 404)["title"] == "Link from another workspace"
    assert "only Ada" not in replay.text
    assert ada.get(f"encryption/shared/{token}").json()["body"] == "only Ada reads this"


# --- a restart ---


def test_after_a_restart_each_workspace_finds_its_own_key(tmp_path):
    data = tmp_path / "data"
    with serve(class_app(data)) as first:
        ada, bob = join(first, "Ada"), join(first, "Bob")
        both_on(ada, bob)
        ada.post("encryption/rotate")
        before = {s.name: bodies(s) for s in (ada, bob)}
    with serve(class_app(data)) as second:
        for student in (ada, bob):
            student.url = student.url.replace(first.url, second.url)
            assert bodies(student) == before[student.name]


def solved(student: Student) -> set[str]:
    progress = student.get("sandbox/progress").json()
    return {c["id"] for c in progress["challenges"] if c["solved"]}
