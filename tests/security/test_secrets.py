"""Secrets stay secret: no request record keeps a password, a token or a whole note body.

Written as the attack: the secrets travel over real HTTP in every encoding the server
itself understands, then the whole record is searched for them, the way anyone who can
read GET /sandbox/traces/<id> or the live feed would.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import string
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
import requests
from flask.sessions import SecureCookieSessionInterface
from helpers import serve

from sandbox import create_app
from sandbox.db import DATABASE_FILE, PARAM_KEPT, SQL_TEXT_KEPT
from sandbox.redact import KEPT, REDACTED

SECRET = "Tr0ub4dor-and-3-horses"


def strings(value: Any):
    """Yield every string in a JSON document: keys and values, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def leaks(document: Any, secret: str) -> list[str]:
    """Return the strings of a record that carry ``secret``, however it was encoded."""
    found = []
    for text in strings(document):
        # UTF-16 read as UTF-8 puts a NUL between letters; a form percent-encodes them.
        readable = [text, text.replace("\x00", ""), unquote_plus(text)]
        if any(secret in candidate for candidate in readable):
            found.append(text[:120])
    return found


class Feed:
    """Read the live feed in a thread, as a second browser tab would."""

    def __init__(self, url: str):
        self.messages: list[str] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._read, args=(url,), daemon=True)
        self.thread.start()
        assert self.ready.wait(15)

    def _read(self, url: str) -> None:
        with requests.get(url + "/sandbox/traces/stream", stream=True, timeout=20) as stream:
            for line in stream.iter_lines(decode_unicode=True):
                self.ready.set()
                if line.startswith("data: "):
                    self.messages.append(line[6:])

    def everything(self) -> list[Any]:
        self.thread.join(20)
        return [json.loads(m) for m in self.messages]


@pytest.fixture
def sandbox(tmp_path):
    """A served sandbox with auth on, its live feed open for 3 seconds."""
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_STREAM_SECONDS": 3})
    with serve(app) as live:
        assert live.request("PATCH", "/sandbox/modules/auth", json={"enabled": True}).ok
        yield live


def json_bytes(data: dict[str, str], encoding: str, *, escape_key: bool = False) -> bytes:
    text = json.dumps(data)
    if escape_key:
        text = text.replace('"password"', '"p\\u0061ssword"')  # the same key, spelled in JSON
    return text.encode(encoding)


# Every way of sending a password that the server reads as a password.
ENCODED_LOGINS = {
    "utf-16-with-bom": lambda account: json_bytes(account, "utf-16"),
    "utf-16-le-no-bom": lambda account: json_bytes(account, "utf-16-le"),
    "utf-32-with-bom": lambda account: json_bytes(account, "utf-32"),
    "utf-8-bom-escaped-key": lambda account: json_bytes(account, "utf-8-sig", escape_key=True),
    "utf-16-escaped-key": lambda account: json_bytes(account, "utf-16", escape_key=True),
}


@pytest.mark.parametrize("encode", ENCODED_LOGINS.values(), ids=ENCODED_LOGINS.keys())
def test_a_password_in_any_encoding_the_server_reads_is_kept_by_no_record(sandbox, encode):
    feed = Feed(sandbox.url)
    account = {"username": "victim", "password": SECRET}
    raw = encode(account)
    headers = {"Content-Type": "application/json"}
    registered = sandbox.post("/auth/register", data=raw, headers=headers)
    # The server really read the password: it made the account and it logs in with it.
    assert registered.status_code == 201, registered.text
    sandbox.post("/auth/logout", json={})
    logged_in = sandbox.post("/auth/login", data=raw, headers=headers)
    assert logged_in.status_code == 200, logged_in.text
    for response in (registered, logged_in):
        record = sandbox.trace(response)
        assert leaks(record, SECRET) == []
        assert REDACTED in record["request"]["body"]
    everything = sandbox.get("/sandbox/traces?limit=1000").json()
    assert leaks(everything, SECRET) == []
    assert leaks(feed.everything(), SECRET) == []


def test_a_password_in_a_form_is_redacted_and_a_form_that_is_not_utf8_is_not_kept(sandbox):
    form = {"username": "formuser", "password": SECRET}
    registered = sandbox.post("/auth/register", data=form)
    assert registered.status_code in (201, 303), registered.text
    body = sandbox.trace(registered)["request"]["body"]
    assert "password=[redacted]" in body and "username=formuser" in body
    latin1 = f"username=x&password={SECRET}\xe9".encode("latin-1")
    response = sandbox.post(
        "/server/post",
        data=latin1,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    kept = sandbox.trace(response)["request"]["body"]
    assert kept == (
        f"<{len(latin1)} bytes of application/x-www-form-urlencoded "
        "that could not be parsed: not kept>"
    )


def test_a_text_plain_body_that_is_json_gets_json_redaction(sandbox):
    # The playground reads any body as JSON, whatever its Content-Type says.
    raw = json_bytes({"p\u0061ssword": SECRET, "keep": "me"}, "utf-8-sig", escape_key=True)
    response = sandbox.post("/server/post", data=raw, headers={"Content-Type": "text/plain"})
    assert response.json()["json"] == {"password": SECRET, "keep": "me"}  # it read the secret
    record = sandbox.trace(response)
    assert json.loads(record["request"]["body"]) == {"password": REDACTED, "keep": "me"}
    assert leaks(record, SECRET) == []


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        ('{"password": "' + SECRET + '", broken', "application/json"),
        (f"\xff\xfe\x00password={SECRET}".encode("latin-1"), "text/plain"),
        (f"password={SECRET}".encode("utf-16"), "text/plain"),
        (("[" * 200) + f'"password", "{SECRET}"' + ("]" * 200), "application/json"),
    ],
    ids=["broken-json", "not-utf8", "utf16-text", "too-deep"],
)
def test_a_body_that_cannot_be_read_is_not_kept_and_the_record_says_why(sandbox, raw, content_type):
    data = raw.encode() if isinstance(raw, str) else raw
    response = sandbox.post("/server/post", data=data, headers={"Content-Type": content_type})
    body = sandbox.trace(response)["request"]["body"]
    assert body.startswith(f"<{len(data)} bytes of ") and body.endswith(": not kept>"), body
    assert leaks(sandbox.trace(response), SECRET) == []


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_password_session_and_token_hashes_never_reach_a_records_sql(sandbox):
    registered = sandbox.post("/auth/register", json={"username": "hashes", "password": SECRET})
    serializer = SecureCookieSessionInterface().get_signing_serializer(sandbox.app)
    session_secret = serializer.loads(sandbox.session.cookies["session"])["_user_id"]
    made = sandbox.post("/auth/tokens", json={"name": "nb", "scope": "write"})
    token = made.json()["token"]
    by_token = requests.get(
        sandbox.url + "/api/notes", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    by_cookie = sandbox.get("/api/notes")
    logged_out = sandbox.post("/auth/logout", json={})
    assert [r.status_code for r in (registered, made, by_token, by_cookie, logged_out)] == [
        201,
        201,
        200,
        200,
        204,
    ]
    conn = sqlite3.connect(Path(sandbox.app.instance_path) / DATABASE_FILE)
    (password_hash,) = conn.execute("select password_hash from users").fetchone()
    conn.close()
    # What a reader of the record could reuse or attack offline: none of it is there.
    secrets = [SECRET, token, session_secret, password_hash, sha256(token), sha256(session_secret)]
    for response in (registered, made, by_token, by_cookie, logged_out):
        record = sandbox.trace(response)
        for secret in secrets:
            assert leaks(record, secret) == [], (response.request.path_url, secret[:12])
    # The statements are still shown, as written, with "[redacted]" where a hash was.
    insert = next(
        e for e in sandbox.trace(registered)["sql"] if e["sql"].startswith("insert into sessions")
    )
    assert "secret_hash" in insert["sql"] and insert["params"][2] == REDACTED
    lookup = next(e for e in sandbox.trace(by_token)["sql"] if "token_hash = ?" in e["sql"])
    assert REDACTED in lookup["params"]


def random_body(size: int) -> str:
    return "".join(random.choices(string.ascii_letters + string.digits + " ", k=size))


def test_switching_encryption_off_keeps_no_whole_body_and_no_field_over_the_bound(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    with serve(app) as live:
        assert live.request("PATCH", "/sandbox/modules/encryption", json={"enabled": True}).ok
        bodies = [random_body(5000) for _ in range(20)]
        for n, body in enumerate(bodies):
            created = live.post("/api/notes", json={"title": f"note {n}", "body": body})
            assert created.status_code == 201
        switched = live.request("PATCH", "/sandbox/modules/encryption", json={"enabled": False})
        assert switched.status_code == 200
        # The switch really decrypted them: each reads back whole, in clear, from the file.
        stored = live.post("/sandbox/sql", json={"sql": "select body from notes"}).json()
        assert set(bodies) <= {row[0] for row in stored["rows"]}
        record = live.trace(switched)
        dumped = json.dumps(record)
        updates = [e for e in record["sql"] if e["sql"].startswith("update notes set body")]
        assert len(updates) >= 20  # the record shows each update, as written, values cut short
        for body in bodies:
            assert body not in dumped
            assert body[: PARAM_KEPT + 1] not in dumped  # no more than the excerpt of any
        for entry in record["sql"]:
            assert len(entry["sql"]) <= SQL_TEXT_KEPT + 40
            assert "?" in entry["sql"] or not any(b[:50] in entry["sql"] for b in bodies)
            for value in entry["params"] or []:
                if isinstance(value, str):
                    assert len(value) <= PARAM_KEPT + 40, value[:80]
        longest = max(len(s) for s in strings(record))
        bound = app.config["SANDBOX_BODY_EXCERPT"] + 40
        assert longest <= bound, longest


def test_every_value_a_record_keeps_is_bounded(sandbox):
    long = "v" * 3000  # (a URL over about 8 KB gets a 414 before any record is made)
    response = sandbox.post(
        "/server/anything/" + "p" * 1500,
        params={"k" * 1200: long, "x": long},
        headers={"X-Big": "h" * 8000, "Content-Type": "text/plain"},
        data="b" * 100_000,
    )
    assert response.status_code == 200
    record = sandbox.trace(response)
    longest = max(len(s) for s in strings(record))
    assert longest <= sandbox.app.config["SANDBOX_BODY_EXCERPT"] + 40, longest
    assert len(record["path"]) <= KEPT + 40 and record["path"].endswith("characters in all]")
    assert record["request"]["headers"]["X-Big"].endswith("[8000 characters in all]")
    assert record["query"]["x"].endswith("[3000 characters in all]")
