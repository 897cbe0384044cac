"""The caching module: a cache in front of note reads and the report, keyed by who asks.

Each test looks where a learner would: the X-Cache header, the record's cache events,
the answer itself (a stale read shows the old text), and the challenges.
"""

from __future__ import annotations

import threading

import pytest
from helpers import is_problem

from sandbox import create_app
from sandbox.modules.caching.cache import backend_config
from sandbox.registry import shutdown

PW = "correct horse battery"


@pytest.fixture
def on(client):
    response = client.patch("/sandbox/modules/caching", json={"enabled": True})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


def record(client, response) -> dict:
    return client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json


def cache_events(client, response) -> list[dict]:
    return [e for e in record(client, response)["events"] if e["module"] == "caching"]


def outcomes(client, response) -> list[str]:
    return [e["cache"] for e in cache_events(client, response) if "cache" in e]


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def test_off_by_default_its_switches_answer_404_but_the_report_still_works(client):
    is_problem(client.get("/caching/settings"), 404)
    first = client.get("/caching/report")
    assert first.status_code == 200 and first.json["notes"] == 3  # the three seeded notes
    assert "X-Cache" not in first.headers
    assert any("computed again" in e["message"] for e in cache_events(client, first))
    assert "X-Cache" not in client.get("/api/notes/1").headers  # off: not in the way


def test_the_second_read_of_a_note_is_a_hit_and_says_what_it_saved(on):
    first, second = on.get("/api/notes/1"), on.get("/api/notes/1")
    assert first.json == second.json
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit")
    assert outcomes(on, first) == ["miss", "store"] and outcomes(on, second) == ["hit"]
    hit = cache_events(on, second)[0]
    assert hit["saved_ms"] > 0 and hit["note_id"] == 1 and hit["owner"] == "everyone"
    assert record(on, second)["sql"] == []  # answered without touching the database


def test_a_list_is_cached_too_and_a_new_note_drops_it(on):
    on.get("/api/notes?limit=5")
    assert on.get("/api/notes?limit=5").headers["X-Cache"] == "hit"
    created = on.post("/api/notes", json={"title": "new one"})
    assert "invalidate" in outcomes(on, created)
    fresh = on.get("/api/notes?limit=5")
    assert fresh.headers["X-Cache"] == "miss" and fresh.json["total"] == 4


def test_a_change_invalidates_the_note_so_the_next_read_sees_it(on):
    on.get("/api/notes/1")
    on.patch("/api/notes/1", json={"title": "changed"})
    after = on.get("/api/notes/1")
    assert after.headers["X-Cache"] == "miss" and after.json["title"] == "changed"
    on.delete("/api/notes/1")
    is_problem(on.get("/api/notes/1"), 404)


def test_the_report_from_the_cache_is_20_times_faster_and_solves_the_challenge(on):
    assert on.post("/caching/notes", json={"count": 10000, "seed": 7}).status_code == 201
    miss = on.get("/caching/report")
    hit = on.get("/caching/report")
    assert (miss.headers["X-Cache"], hit.headers["X-Cache"]) == ("miss", "hit")
    assert miss.json == hit.json and miss.json["notes"] == 10003
    miss_ms = record(on, miss)["duration_ms"]
    hit_record = record(on, hit)
    assert miss_ms >= 200  # honest work: every note read and counted
    assert miss_ms >= 20 * hit_record["duration_ms"]
    assert "caching.fast_hit" in solved(on)


def test_a_new_note_makes_a_new_report(on):
    before = on.get("/caching/report").json["notes"]
    on.post("/api/notes", json={"title": "one more"})
    after = on.get("/caching/report")
    assert after.headers["X-Cache"] == "miss" and after.json["notes"] == before + 1


def test_with_invalidation_off_a_stale_read_happens_and_a_flush_fixes_it(on):
    assert on.patch("/caching/settings", json={"invalidate": False}).json["invalidate"] is False
    on.get("/api/notes/1")
    changed = on.patch("/api/notes/1", json={"title": "the new title"})
    assert "kept-stale" in outcomes(on, changed)
    stale = on.get("/api/notes/1")
    assert stale.json["title"] != "the new title"  # the old copy: the point of the lesson
    assert "stale" in outcomes(on, stale)
    assert "caching.stale_read" not in solved(on)
    assert on.delete("/caching/cache").status_code == 204
    fresh = on.get("/api/notes/1")
    assert fresh.json["title"] == "the new title" and "fresh" in outcomes(on, fresh)
    assert "caching.stale_read" in solved(on)


def test_invalidation_back_on_and_a_new_write_fixes_a_stale_copy_too(on):
    on.patch("/caching/settings", json={"invalidate": False})
    on.get("/api/notes/2")
    on.patch("/api/notes/2", json={"title": "v2"})
    on.get("/api/notes/2")  # stale, served
    on.patch("/caching/settings", json={"invalidate": True})
    on.patch("/api/notes/2", json={"title": "v3"})
    assert on.get("/api/notes/2").json["title"] == "v3"
    assert "caching.stale_read" in solved(on)


def test_one_users_cached_note_is_never_anothers(on):
    on.patch("/sandbox/modules/auth", json={"enabled": True})
    on.post("/auth/register", json={"username": "alice", "password": PW})
    note = on.post("/api/notes", json={"title": "alice's secret"}).json
    on.get(f"/api/notes/{note['id']}")
    hit = on.get(f"/api/notes/{note['id']}")
    assert hit.headers["X-Cache"] == "hit" and cache_events(on, hit)[0]["owner"] == "alice"
    listed = on.get("/api/notes").json
    on.post("/auth/logout")
    on.post("/auth/register", json={"username": "bob", "password": PW})
    theirs = on.get(f"/api/notes/{note['id']}")
    is_problem(theirs, 404)
    assert outcomes(on, theirs) == ["miss"]  # bob's own key: alice's copy is not his
    assert cache_events(on, theirs)[0]["owner"] == "bob"
    assert on.get("/api/notes").json["items"] != listed["items"]  # bob's list is his own
    assert on.get("/caching/report").json["notes"] == 0
    assert "caching.yours_alone" in solved(on)


def test_a_switch_that_changes_what_a_read_returns_changes_the_key(on):
    on.get("/api/notes/1")
    on.patch("/sandbox/modules/database", json={"enabled": False})  # notes in memory now
    in_memory = on.get("/api/notes/1")
    assert in_memory.headers["X-Cache"] == "miss"  # not the copy read from SQLite
    is_problem(in_memory, 404)  # memory starts empty


def test_writes_made_while_the_module_was_off_are_not_hidden_when_it_comes_back(on):
    on.get("/api/notes/1")
    on.patch("/sandbox/modules/caching", json={"enabled": False})
    on.patch("/api/notes/1", json={"title": "changed while off"})  # nobody told the cache
    on.patch("/sandbox/modules/caching", json={"enabled": True})
    assert on.get("/api/notes/1").json["title"] == "changed while off"


def test_a_reset_drops_every_copy(on):
    on.get("/api/notes/1")
    on.patch("/caching/settings", json={"invalidate": False, "ttl": 600})
    on.post("/sandbox/reset")
    on.patch("/sandbox/modules/caching", json={"enabled": True})  # a reset switches it off
    assert on.get("/caching/settings").json == {"invalidate": True, "ttl": 300, "backend": "memory"}
    assert on.get("/api/notes/1").headers["X-Cache"] == "miss"


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/caching/settings", {"ttl": 0}, "ttl"),
        ("/caching/settings", {"ttl": "soon"}, "ttl"),
        ("/caching/settings", {"invalidate": "no"}, "invalidate"),
        ("/caching/settings", {"flush": True}, "flush"),
        ("/caching/notes", {"count": 0}, "count"),
        ("/caching/notes", {"count": 10**9}, "count"),
        ("/caching/notes", {"count": 5, "seed": "x"}, "seed"),
        ("/caching/notes", {}, "count"),
    ],
)
def test_bad_options_are_a_422_naming_the_field(on, path, body, says):
    method = on.patch if path.endswith("settings") else on.post
    problem = is_problem(method(path, json=body), 422)
    assert says in {e["field"] for e in problem["errors"]}


def test_a_body_that_is_not_json_is_a_415_and_nothing_changes(on):
    is_problem(on.patch("/caching/settings", data="ttl=5"), 415)
    is_problem(on.post("/caching/notes", data="count=5"), 415)
    assert on.get("/caching/settings").json["ttl"] == 300


def test_generated_notes_are_the_same_for_the_same_seed(client):
    client.post("/caching/notes", json={"count": 3, "seed": 42})
    client.post("/caching/notes", json={"count": 3, "seed": 42})
    items = client.get("/api/notes?limit=10&sort=created").json["items"][3:]
    assert [n["title"] for n in items[:3]] == [n["title"] for n in items[3:]]


def test_readers_racing_writers_never_keep_an_old_copy(on):
    """A read that began before a write may store what it read: never under the new key."""
    stop = threading.Event()
    errors: list[str] = []

    def read() -> None:
        reader = on.application.test_client()
        while not stop.is_set():
            if reader.get("/api/notes/1").status_code != 200:
                errors.append("read failed")

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    try:
        for n in range(30):
            assert on.patch("/api/notes/1", json={"title": f"version {n}"}).status_code == 200
            assert on.get("/api/notes/1").json["title"] == f"version {n}"
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert errors == []


def test_the_cache_can_live_in_redis_or_memcached_for_several_servers():
    assert backend_config(None, 60)["CACHE_TYPE"] == "SimpleCache"
    redis = backend_config("redis://cache.example:6379/0", 60)
    assert redis == {
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": "redis://cache.example:6379/0",
        "CACHE_DEFAULT_TIMEOUT": 60,
    }
    memcached = backend_config("memcached://a:11211,b:11211", 60)
    assert memcached["CACHE_MEMCACHED_SERVERS"] == ["a:11211", "b:11211"]
    with pytest.raises(ValueError, match="redis://host:6379/0 or memcached://host:11211"):
        backend_config("mongodb://nope", 60)


def test_a_cache_url_that_is_not_a_cache_stops_the_start(tmp_path):
    with pytest.raises(ValueError, match="SANDBOX_CACHE_URL='ftp://x'"):
        create_app({"SANDBOX_DATA_DIR": str(tmp_path / "d"), "SANDBOX_CACHE_URL": "ftp://x"})


def test_each_workspace_has_its_own_copies(ada, bob):
    for student in (ada, bob):
        student.switch("caching", {"enabled": True})
    ada.request("PATCH", "api/notes/1", json={"title": "ada's"})
    ada.request("GET", "api/notes/1")
    answer = bob.request("GET", "api/notes/1")
    assert answer.headers["X-Cache"] == "miss" and answer.json()["title"] != "ada's"


def test_every_challenge_can_be_solved(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    client.patch("/sandbox/modules/caching", json={"enabled": True})
    client.post("/caching/notes", json={"count": 10000})
    client.get("/caching/report")
    client.get("/caching/report")
    client.patch("/caching/settings", json={"invalidate": False})
    client.get("/api/notes/1")
    client.patch("/api/notes/1", json={"title": "new"})
    client.get("/api/notes/1")
    client.delete("/caching/cache")
    client.get("/api/notes/1")
    client.patch("/sandbox/modules/auth", json={"enabled": True})
    client.post("/auth/register", json={"username": "alice", "password": PW})
    note = client.post("/api/notes", json={"title": "mine"}).json
    client.get(f"/api/notes/{note['id']}")
    client.post("/auth/logout")
    client.post("/auth/register", json={"username": "bob", "password": PW})
    client.get(f"/api/notes/{note['id']}")
    assert {"caching.fast_hit", "caching.stale_read", "caching.yours_alone"} <= solved(client)
    shutdown(app)
