"""The ratelimit module: a limit per client on the notes API and the HTTP playground.

Each test looks where a learner would: the status and the problem, the Retry-After and
RateLimit-* headers, the limiter's event in the record, and the challenges. The race
test sends its requests over real HTTP, from many threads at once.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
import requests
from helpers import is_problem, serve

from sandbox import create_app
from sandbox.modules.ratelimit.limiter import Limits, parse_rate
from sandbox.registry import shutdown

PW = "correct horse battery"
HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


@pytest.fixture
def on(client):
    response = client.patch("/sandbox/modules/ratelimit", json={"enabled": True})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


def limit(client, rate: str, strategy: str | None = None) -> dict:
    body = {"limit": rate} if strategy is None else {"limit": rate, "strategy": strategy}
    response = client.patch("/ratelimit/settings", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def verdict(client, response) -> dict:
    """Return the limiter's event in the record of a response."""
    events = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json["events"]
    [found] = [e for e in events if e["module"] == "ratelimit" and "allowed" in e]
    return found


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def register(app, name: str):
    """Return a test client logged in as a new user ``name``."""
    client = app.test_client()
    response = client.post("/auth/register", json={"username": name, "password": PW})
    assert response.status_code == 201, response.get_data(as_text=True)
    return client


def test_off_by_default_nothing_is_limited_or_counted(client):
    is_problem(client.get("/ratelimit/settings"), 404)
    for _ in range(70):  # more than the default 60/minute
        answer = client.get("/server/get")
        assert answer.status_code == 200
    assert not any(name in answer.headers for name in HEADERS)
    events = client.get(f"/sandbox/traces/{answer.headers['X-Sandbox-Trace']}").json["events"]
    assert not [e for e in events if e["module"] == "ratelimit"]


def test_on_every_answer_of_a_limited_route_says_the_limit(on):
    assert on.get("/ratelimit/settings").json["limit"] == "60/minute"  # the setting's default
    first, second = on.get("/server/get"), on.get("/api/notes")
    assert first.headers["RateLimit-Limit"] == "60" and first.headers["RateLimit-Remaining"] == "59"
    assert second.headers["RateLimit-Remaining"] == "58"  # one count for /api/ and /server/
    assert 0 < int(second.headers["RateLimit-Reset"]) <= 60  # seconds from now
    assert second.headers["RateLimit-Policy"] == "60;w=60"
    assert "Retry-After" not in second.headers
    seen = verdict(on, second)
    assert seen["allowed"] is True and seen["limit"] == "60/minute" and seen["remaining"] == 58
    assert seen["key"] == "local:0:address:127.0.0.1"  # the guest: told apart by address
    # Never limited: the switches, the records, the module's own settings.
    for path in ("/sandbox/health", "/ratelimit/settings", "/"):
        assert "RateLimit-Limit" not in on.get(path).headers


def test_past_the_limit_a_429_problem_says_the_limit_and_when_to_come_back(on):
    limit(on, "3/minute")
    assert [on.get("/server/get").status_code for _ in range(3)] == [200, 200, 200]
    refused = on.get("/api/notes")
    problem = is_problem(refused, 429)
    assert problem["limit"] == "3/minute" and "3 requests per minute" in problem["detail"]
    wait = int(refused.headers["Retry-After"])
    assert 1 <= wait <= 60 and problem["retry_after"] == wait
    assert f"Wait {wait} s" in problem["detail"]
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Limit"] == "3"
    seen = verdict(on, refused)
    assert seen["allowed"] is False and seen["remaining"] == 0 and seen["retry_after"] == wait
    assert seen["key"].endswith("address:127.0.0.1")
    # A refused request did nothing: the note was not made.
    is_problem(on.post("/api/notes", json={"title": "too many"}), 429)
    on.patch("/sandbox/modules/ratelimit", json={"enabled": False})
    assert on.get("/api/notes").json["total"] == 3


def test_a_new_limit_applies_at_once_and_counts_again(on):
    for _ in range(3):
        on.get("/server/get")
    shown = limit(on, " 2 per 5 seconds ")
    assert shown["limit"] == "2/5second" and shown["means"] == "2 requests per 5 seconds"
    assert [on.get("/server/get").status_code for _ in range(3)] == [200, 200, 429]


def test_come_back_after_retry_after_and_the_challenge_is_solved(on):
    limit(on, "2/2second")
    on.get("/server/get"), on.get("/server/get")
    refused = on.get("/server/get")
    wait = int(refused.headers["Retry-After"])
    assert refused.status_code == 429 and wait <= 2
    assert on.get("/server/get").status_code == 429  # too early: still limited
    assert "ratelimit.come_back" not in solved(on)
    time.sleep(wait + 0.1)
    back = on.get("/server/get")
    assert back.status_code == 200 and back.headers["RateLimit-Remaining"] == "1"
    assert "ratelimit.come_back" in solved(on)


def test_a_2xx_too_soon_after_a_429_does_not_solve_come_back(on):
    limit(on, "1/3second")
    on.get("/server/get")
    assert on.get("/server/get").status_code == 429
    limit(on, "50/minute")  # a new limit lets the next one through before Retry-After
    assert on.get("/server/get").status_code == 200
    assert "ratelimit.come_back" not in solved(on)


def test_each_user_has_a_count_of_their_own(app, on):
    on.patch("/sandbox/modules/auth", json={"enabled": True})
    limit(on, "2/minute")
    alice, bob = register(app, "alice"), register(app, "bob")
    assert [alice.get("/api/notes").status_code for _ in range(3)] == [200, 200, 429]
    assert "alice" in is_problem(alice.get("/api/notes"), 429)["detail"]
    assert "ratelimit.yours_alone" not in solved(on)
    answer = bob.get("/api/notes")  # right after alice's 429
    assert answer.status_code == 200 and answer.headers["RateLimit-Remaining"] == "1"
    assert verdict(on, answer)["key"].endswith(":user:bob")
    assert "ratelimit.yours_alone" in solved(on)


def test_the_same_client_twice_does_not_solve_yours_alone(on):
    limit(on, "1/minute")
    on.get("/api/notes")
    assert on.get("/api/notes").status_code == 429
    limit(on, "5/minute")
    assert on.get("/api/notes").status_code == 200  # the same key, under a new limit
    assert "ratelimit.yours_alone" not in solved(on)


def test_a_token_that_does_not_work_is_counted_by_address_and_the_playground_still_answers(on):
    on.patch("/sandbox/modules/auth", json={"enabled": True})
    answer = on.get("/server/bearer", headers={"Authorization": "Bearer not-a-sandbox-token"})
    assert answer.status_code == 200  # the playground's bearer route takes any token
    assert verdict(on, answer)["key"].endswith("address:127.0.0.1")
    is_problem(on.get("/api/notes", headers={"Authorization": "Bearer nope"}), 401)


@pytest.mark.parametrize("strategy", ["fixed-window", "moving-window", "sliding-window-counter"])
def test_threads_racing_for_the_last_places_never_get_more_than_the_limit(app, strategy):
    client = app.test_client()
    client.patch("/sandbox/modules/ratelimit", json={"enabled": True})
    # Per day: the sliding window counter's windows are aligned to the clock, and one that
    # began during the test would weigh the previous one's 20 as 19.99, rounded down to 19.
    limit(client, "20/day", strategy)
    statuses: list[int] = []
    with serve(app) as live:
        start = threading.Barrier(40)

        def flood() -> None:
            with requests.Session() as session:
                start.wait()
                for _ in range(3):
                    statuses.append(session.get(live.url + "/server/get", timeout=30).status_code)

        threads = [threading.Thread(target=flood) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert Counter(statuses) == {200: 20, 429: 100}


def test_strategies_differ_at_the_edge_of_a_window(on):
    # Fixed window: the count starts at the first request and all of it frees at once.
    # Moving window: each request frees its place one window after it was made.
    limit(on, "2/2second", "moving-window")
    on.get("/server/get")
    time.sleep(1.1)
    on.get("/server/get")
    refused = on.get("/server/get")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"  # the first frees
    time.sleep(1)
    again = on.get("/server/get")
    assert again.status_code == 200 and again.headers["RateLimit-Remaining"] == "0"


def sweepers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "ratelimit-sweeper"]


def test_expired_counts_are_swept_by_a_thread_that_runs_only_while_the_module_is_on(app):
    client = app.test_client()
    assert sweepers() == []
    client.patch("/sandbox/modules/ratelimit", json={"enabled": True})
    assert len(sweepers()) == 1
    limit(client, "1/second")
    client.get("/server/get")
    storage = app.extensions["sandbox.ratelimit"].storage
    assert len(storage.storage) == 1  # one count, one client
    deadline = time.monotonic() + 5
    while storage.storage and time.monotonic() < deadline:  # no request reads it again
        time.sleep(0.1)
    assert not storage.storage  # the sweeper dropped it once its window ended
    client.patch("/sandbox/modules/ratelimit", json={"enabled": False})
    assert sweepers() == []
    client.patch("/sandbox/modules/ratelimit", json={"enabled": True})
    shutdown(app)
    assert sweepers() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": "0/minute"}, "limit"),
        ({"limit": "10001/minute"}, "limit"),
        ({"limit": "5/2day"}, "limit"),
        ({"limit": "5/fortnight"}, "limit"),
        ({"limit": "5/minute;10/hour"}, "limit"),
        ({"limit": "five a minute"}, "limit"),
        ({"limit": 5}, "limit"),
        ({"limit": "5" * 50}, "limit"),
        ({"strategy": "token-bucket"}, "strategy"),
        ({"burst": 5}, "burst"),
    ],
)
def test_a_bad_setting_is_a_422_naming_the_field_and_nothing_changes(on, body, field):
    problem = is_problem(on.patch("/ratelimit/settings", json=body), 422)
    assert field in {e["field"] for e in problem["errors"]}
    assert on.get("/ratelimit/settings").json["limit"] == "60/minute"


def test_a_body_that_is_not_json_is_a_415(on):
    is_problem(on.patch("/ratelimit/settings", data="limit=5/minute"), 415)
    is_problem(on.patch("/ratelimit/settings", data="{", content_type="application/json"), 400)


def test_a_reset_brings_back_the_default_and_new_counts(on):
    limit(on, "1/minute")
    on.get("/server/get")
    assert on.get("/server/get").status_code == 429
    on.post("/sandbox/reset")
    on.patch("/sandbox/modules/ratelimit", json={"enabled": True})  # a reset switches it off
    assert on.get("/ratelimit/settings").json["limit"] == "60/minute"
    limit(on, "1/minute")  # the same limit as before the reset: still a count of its own
    assert on.get("/server/get").status_code == 200


def test_each_workspace_has_its_own_limit_and_counts(ada, bob):
    for student in (ada, bob):
        student.switch("ratelimit", {"enabled": True})
    assert ada.request("PATCH", "ratelimit/settings", json={"limit": "2/minute"}).ok
    assert [ada.get("server/get").status_code for _ in range(3)] == [200, 200, 429]
    # Bob is the guest at the same address, in another workspace: his own limit and count.
    answer = bob.get("server/get")
    assert answer.status_code == 200 and answer.headers["RateLimit-Limit"] == "60"
    assert bob.get("ratelimit/settings").json()["limit"] == "60/minute"


@pytest.mark.parametrize(
    ("setting", "value", "says"),
    [
        ("SANDBOX_RATELIMIT_DEFAULT", "lots", "SANDBOX_RATELIMIT_DEFAULT='lots'"),
        ("SANDBOX_RATELIMIT_STRATEGY", "leaky", "fixed-window"),
        ("SANDBOX_RATELIMIT_STORAGE_URL", "ftp://x", "SANDBOX_RATELIMIT_STORAGE_URL='ftp://x'"),
    ],
)
def test_a_setting_that_does_not_work_stops_the_start(tmp_path, setting, value, says):
    with pytest.raises(ValueError, match=says.replace("(", r"\(")):
        create_app({"SANDBOX_DATA_DIR": str(tmp_path / "d"), setting: value})


def test_the_counts_can_live_in_redis_for_several_servers():
    try:
        limits = Limits("redis://localhost:6379/0", "60/minute", "fixed-window")
    except ValueError as error:  # the redis client is not installed here: the error says how
        assert "'redis' prerequisite" in str(error) and "pip install redis" in str(error)
    else:
        assert limits.backend == "redis"
    assert Limits(None, "60/minute", "fixed-window").backend == "memory"


def test_rates_are_written_the_standard_way():
    assert parse_rate("5 per minute")[0] == "5/minute"
    assert parse_rate("3/2seconds")[0] == "3/2second"
    assert parse_rate("10000/day")[1].get_expiry() == 86_400


def test_every_challenge_can_be_solved(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    client.patch("/sandbox/modules/ratelimit", json={"enabled": True})
    client.patch("/sandbox/modules/auth", json={"enabled": True})
    client.patch("/ratelimit/settings", json={"limit": "2/2second"})
    alice, bob = register(app, "alice"), register(app, "bob")
    statuses = [alice.get("/server/get").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert bob.get("/server/get").status_code == 200
    time.sleep(2.1)
    assert alice.get("/server/get").status_code == 200
    assert {"ratelimit.come_back", "ratelimit.yours_alone"} <= solved(client)
    shutdown(app)
