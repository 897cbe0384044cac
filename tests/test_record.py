"""The request record: what every layer did, kept safely and in bounded memory."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import is_problem, serve

from sandbox import create_app
from sandbox.record import RecordBuffer

SECRET = "hunter2-correct-horse"


def record_of(client, response) -> dict:
    return client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json


def test_every_response_names_its_record_and_the_record_has_every_field(live):
    response = live.get("/server/get?colour=blue", headers={"X-Hello": "hi"})
    record = live.trace(response)
    assert record["id"] == response.headers["X-Sandbox-Trace"]
    assert record["method"] == "GET" and record["path"] == "/server/get"
    assert record["status"] == 200 and record["module"] == "server"
    assert record["query"] == {"colour": "blue"}
    assert record["request"]["headers"]["X-Hello"] == "hi"
    assert record["response"]["size"] == len(response.content)
    assert record["duration_ms"] > 0
    for key in ("sql", "events", "exception", "time"):
        assert key in record


def test_reading_records_is_not_recorded(client):
    client.get("/server/get")
    before = client.get("/sandbox/traces").json["traces"]
    client.get(f"/sandbox/traces/{before[0]['id']}")
    client.get("/sandbox/traces?limit=5")
    after = client.get("/sandbox/traces").json["traces"]
    assert [t["id"] for t in after] == [t["id"] for t in before]
    assert not any(t["path"].startswith("/sandbox/traces") for t in after)


def test_toggles_are_recorded_with_the_sql_they_ran(client):
    response = client.patch("/sandbox/modules/server", json={"enabled": False})
    record = record_of(client, response)
    upsert = next(s for s in record["sql"] if s["sql"].startswith("insert into module_state"))
    assert "?" in upsert["sql"] and upsert["params"][:3] == ["local", "server", 0]
    assert upsert["duration_ms"] is not None
    assert any(s["sql"] == "COMMIT" for s in record["sql"])  # the transaction, ended
    assert {"module": "sandbox", "message": "module server switched off"} in without_times(
        record["events"]
    )


def test_sql_that_sqlite_utils_issues_on_its_own_is_captured(probe_app):
    client = probe_app.test_client()
    client.patch("/sandbox/modules/probe", json={"enabled": True})
    record = record_of(client, client.post("/probe/notes"))
    statements = [s["sql"] for s in record["sql"]]
    # sqlite-utils looks up the table itself before inserting: we never wrote that query.
    assert any("sqlite_master" in s for s in statements), statements
    assert any(s.startswith('INSERT INTO "notes"') for s in statements), statements
    assert any(s.startswith("select count(*)") for s in statements), statements


def test_an_exception_is_kept_with_its_traceback_and_answered_as_a_problem(probe_app):
    client = probe_app.test_client()
    client.patch("/sandbox/modules/probe", json={"enabled": True})
    response = client.get("/probe/boom")
    problem = is_problem(response, 500)
    assert problem["trace"] in problem["detail"]
    record = record_of(client, response)
    assert record["status"] == 500
    assert record["exception"]["type"] == "RuntimeError"
    assert "probe failed on purpose" in record["exception"]["traceback"]
    assert "probe failed on purpose" not in response.get_data(as_text=True)  # no leak to clients


@pytest.mark.parametrize(
    "send",
    [
        {"json": {"username": "ada", "password": SECRET}},
        {"json": {"nested": [{"api_key": SECRET}]}},
        {"data": {"username": "ada", "password": SECRET}},
        {"data": f"password={SECRET}&x=1", "headers": {"Content-Type": "text/plain"}},
        {
            "data": '{"token": "' + SECRET + '", broken',
            "headers": {"Content-Type": "application/json"},
        },
        {"params": {"access_token": SECRET}},
        {"headers": {"Authorization": f"Bearer {SECRET}"}},
        {"headers": {"Authorization": f"Basic {SECRET}"}},
        {"headers": {"Cookie": f"session={SECRET}; theme=dark"}},
        {"headers": {"X-Api-Key": SECRET}},
        {"files": {"upload": ("a.txt", SECRET)}, "data": {"password": SECRET}},
    ],
    ids=[
        "json",
        "nested-json",
        "form",
        "text",
        "broken-json",
        "query",
        "bearer",
        "basic",
        "cookie",
        "api-key-header",
        "multipart",
    ],
)
def test_secrets_appear_in_no_record(live, send):
    response = live.post("/server/post", **send)
    assert response.status_code == 200
    dumped = json.dumps(live.trace(response))
    assert SECRET not in dumped
    # Redacted, or (a body the server cannot parse either) not kept at all.
    assert "[redacted]" in dumped or "not kept" in dumped


def test_names_stay_visible_when_values_are_redacted(live):
    record = live.trace(
        live.get(
            "/server/get",
            headers={"Cookie": "session=abc; theme=dark", "Authorization": "Bearer xyz"},
        )
    )
    headers = record["request"]["headers"]
    assert headers["Cookie"] == "session=[redacted]; theme=[redacted]"
    assert headers["Authorization"] == "Bearer [redacted]"


def test_set_cookie_values_are_redacted_but_their_attributes_kept(live):
    response = live.get(f"/server/cookies/set?flavour={SECRET}", allow_redirects=False)
    record = live.trace(response)
    assert SECRET not in json.dumps(record["response"])  # (the query shows what the learner sent)
    assert record["response"]["headers"]["Set-Cookie"].startswith("flavour=[redacted]")


def test_the_ring_buffer_keeps_only_the_newest_records(tmp_path):
    client = create_app({"SANDBOX_DATA_DIR": str(tmp_path), "SANDBOX_TRACE_LIMIT": 5}).test_client()
    ids = [client.get(f"/server/get?n={n}").headers["X-Sandbox-Trace"] for n in range(30)]
    body = client.get("/sandbox/traces?limit=100").json
    assert [t["id"] for t in body["traces"]] == ids[::-1][:5]
    assert body["kept"] == 5
    is_problem(client.get(f"/sandbox/traces/{ids[0]}"), 404)


def test_records_can_be_filtered(client):
    client.get("/server/status/418")
    client.get("/server/get")
    client.get("/sandbox/health")
    assert {t["status"] for t in client.get("/sandbox/traces?status=418").json["traces"]} == {418}
    assert {t["module"] for t in client.get("/sandbox/traces?module=server").json["traces"]} == {
        "server"
    }
    paths = [t["path"] for t in client.get("/sandbox/traces?path=/sandbox").json["traces"]]
    assert paths == ["/sandbox/health"]
    assert len(client.get("/sandbox/traces?limit=1").json["traces"]) == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "status=99", "status=x", "limit=-1"])
def test_bad_filters_are_problems(client, query):
    problem = is_problem(client.get(f"/sandbox/traces?{query}"), 422)
    assert problem["errors"][0]["loc"] == ["query", query.split("=")[0]]


def test_body_excerpt_is_bounded(live):
    big = "a" * 50_000
    record = live.trace(live.post("/server/post", data=big, headers={"Content-Type": "text/plain"}))
    assert len(record["request"]["body"]) < 3000 and "50000 bytes" in record["request"]["body"]


def test_a_body_over_the_limit_is_a_413_problem_and_recorded(live):
    response = live.post("/server/post", data=b"x" * (1024 * 1024 + 1))
    assert "limit" in is_problem(response, 413)["detail"]
    record = live.trace(response)
    assert record["status"] == 413 and "over the limit" in record["request"]["body"]


def test_the_live_feed_sends_each_record_as_it_completes(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path), "SANDBOX_STREAM_SECONDS": 3})
    with serve(app) as live, live.get("/sandbox/traces/stream", stream=True, timeout=5) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "retry: 1000"
        requests.get(live.url + "/server/status/418", timeout=5)
        events = []
        for line in lines:
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
            if any(e.get("status") == 418 for e in events) and any(
                e.get("id") == "server.teapot" for e in events
            ):
                break
    trace = next(e for e in events if e.get("status") == 418)
    assert trace["path"] == "/server/status/418" and trace["module"] == "server"


def test_path_segments_named_like_secrets_are_redacted(live):
    response = live.get("/server/basic-auth/ada/s3cret-pass", auth=("ada", "s3cret-pass"))
    assert response.status_code == 200
    record = live.trace(response)
    assert record["path"] == "/server/basic-auth/ada/[redacted]"
    assert "s3cret-pass" not in json.dumps(record)


def feed_messages(url: str, until: Callable[[list[dict]], bool], **headers: str) -> list[dict]:
    """Read the live feed at ``url`` until ``until(messages)``; each with its id and event."""
    messages: list[dict] = []
    with requests.get(url, stream=True, timeout=5, headers=headers) as feed:
        assert feed.status_code == 200, feed.text
        message: dict = {}
        for line in feed.iter_lines(decode_unicode=True):
            if line.startswith(("id: ", "event: ")):
                key, _, value = line.partition(": ")
                message[key] = value
            elif line.startswith("data: "):
                messages.append({**message, "data": json.loads(line[6:])})
                message = {}
                if until(messages):
                    break
    return messages


def test_a_feed_that_reconnects_gets_what_it_missed_first_and_nothing_twice(tmp_path):
    """The server ends a feed every 30 s and a tab may sleep: on the way back the browser
    sends the last id it saw (Last-Event-ID), and the records made meanwhile come first."""
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path), "SANDBOX_STREAM_SECONDS": 3})
    with serve(app) as live:
        stream_url = live.url + "/sandbox/traces/stream"

        def seen(path: str) -> Callable[[list[dict]], bool]:
            return lambda messages: any(m["data"].get("path") == path for m in messages)

        requests.get(live.url + "/server/get", timeout=5)  # before any feed: not replayed
        # A new feed starts from now: it sees a request, then the tab goes away.
        buffer = app.extensions["sandbox.records"].get("local")
        with ThreadPoolExecutor(1) as pool:
            reading = pool.submit(feed_messages, stream_url, seen("/server/status/201"))
            deadline = time.monotonic() + 5
            while not buffer._subscribers:  # the feed is open once it subscribed
                assert time.monotonic() < deadline, "the feed never opened"
                time.sleep(0.01)
            requests.get(live.url + "/server/status/201", timeout=5)
            before = reading.result()
        assert all(m["data"].get("path") != "/server/get" for m in before)
        last_id = before[-1]["id"]
        # While it is away: three requests and a challenge solved.
        for path in ("/server/status/202", "/server/status/418", "/server/status/204"):
            requests.get(live.url + path, timeout=5)
        again = feed_messages(stream_url, seen("/server/status/204"), **{"Last-Event-ID": last_id})
        paths = [m["data"].get("path") for m in again if m["event"] == "trace"]
        assert paths[:3] == ["/server/status/202", "/server/status/418", "/server/status/204"]
        assert any(m["event"] == "challenge" and m["data"]["id"] == "server.teapot" for m in again)
        ids = [int(m["id"]) for m in again]
        assert ids == sorted(set(ids)) and ids[0] == int(last_id) + 1  # in order, none twice
        # The same by query string, for a client that cannot set headers.
        by_query = feed_messages(
            f"{stream_url}?last_event_id={last_id}", seen("/server/status/204")
        )
        assert [m["id"] for m in by_query][: len(ids)] == [str(i) for i in ids]


def test_a_feed_away_for_too_long_is_told_it_missed_some(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path), "SANDBOX_STREAM_SECONDS": 2})
    client = app.test_client()
    for _ in range(RecordBuffer.BACKLOG + 10):
        client.get("/server/get")
    with serve(app) as live:
        stream_url = live.url + "/sandbox/traces/stream"
        stale = feed_messages(stream_url, lambda m: True, **{"Last-Event-ID": "3"})
        from_another_run = feed_messages(stream_url, lambda m: True, **{"Last-Event-ID": "999999"})
    assert stale[0]["event"] == "missed" and stale[0]["data"] == {"after": 3}
    assert from_another_run[0]["event"] == "missed"


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "１２", "9" * 19])
def test_a_last_event_id_that_is_not_an_id_is_a_problem(client, value):
    """Sent either way, it is checked by one model: a 422 that says where, what and how."""
    in_query = client.get("/sandbox/traces/stream", query_string={"last_event_id": value})
    (error,) = is_problem(in_query, 422)["errors"]
    assert error["loc"] == ["query", "last_event_id"]
    assert error["message"].startswith("Last-Event-ID must be the id of a message this feed sent")
    assert "Leave it out to start from now" in error["message"]
    assert error["fix"].startswith("Send last_event_id= as text that matches ^[0-9]{1,18}$")

    in_header = client.get("/sandbox/traces/stream", headers={"Last-Event-ID": value})
    (error,) = is_problem(in_header, 422)["errors"]
    assert error["loc"] == ["header", "Last-Event-ID"]
    assert error["message"].startswith("Last-Event-ID must be the id of a message this feed sent")
    assert error["fix"].startswith("Send the Last-Event-ID header as text that matches")


def test_the_feeds_parameters_are_documented_from_the_models_that_check_them(client):
    parameters = client.get("/api/openapi.json").json["paths"]["/sandbox/traces/stream"]["get"][
        "parameters"
    ]
    assert [(p["name"], p["in"]) for p in parameters] == [
        ("last_event_id", "query"),
        ("Last-Event-ID", "header"),
    ]
    assert all(p["schema"] == {"type": "string", "pattern": "^[0-9]{1,18}$"} for p in parameters)


def test_a_burst_of_messages_reaches_an_open_feed_in_one_write(app):
    """300 open tabs under a burst of requests: each tab is written to a few times a second,
    not once per request (every write wakes the tab's server thread)."""
    from sandbox.record import RecordBuffer, stream

    buffer = RecordBuffer(10)
    feed = stream(buffer, seconds=5)
    assert next(feed).startswith("retry: 1000")  # subscribed now
    for n in range(20):
        buffer.publish("trace", {"n": n})
    written = next(feed)
    feed.close()
    assert written.count("event: trace") == 20
    assert [int(x) for x in re.findall(r'"n": (\d+)', written)] == list(range(20))


def without_times(events: list[dict]) -> list[dict]:
    """Return the events without their at_ms (when each happened: it differs every run)."""
    return [{k: v for k, v in e.items() if k != "at_ms"} for e in events]
