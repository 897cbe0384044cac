"""The module interface: what a new concept plugs into without the core being edited.

Services named once and checked, wrappers around another module's service, events
about note changes, a lifecycle for background work, records for work outside a
request, and each module's own OpenAPI paths and settings.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from flask import Blueprint

from sandbox import Sandbox, create_app
from sandbox.openapi import paths as core_paths
from sandbox.registry import Module, load_modules, shutdown

PLUG = (
    "sandbox.modules.server",
    "sandbox.modules.database",
    "sandbox.modules.api",
    "fixtures.plug",
)


@pytest.fixture
def plug():
    from fixtures import plug

    for kept in plug.seen.values():
        kept.clear()
    return plug


@pytest.fixture
def plug_app(tmp_path, plug):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_MODULES": PLUG})
    yield app
    shutdown(app)


def module_with(**kwargs) -> Module:
    return Module(
        "tests.typo", "Typo\n\nA module with a mistake.", Blueprint("typo", "typo"), **kwargs
    )


class Identity:
    def identify(self):
        return None

    def challenge(self):
        return "Bearer"

    def how_to_log_in(self):
        return "send a token"


def test_a_misspelled_service_stops_the_start_and_names_the_right_one():
    with pytest.raises(ValueError, match=r"'identiy'.* names no service\. Did you mean 'identity'"):
        module_with(provides={"identiy": Identity()})
    with pytest.raises(ValueError, match=r"'note_storag'.* names no service\. Did you mean"):
        module_with(wraps={"note_storag": lambda inner: inner})
    with pytest.raises(
        ValueError, match=r"'note_change'.* names no event\. Did you mean 'note_changed'"
    ):
        module_with(listens={"note_change": print})
    module_with(provides={"identity": Identity()})  # the right name and shape: fine


def test_a_provider_without_the_services_methods_is_refused_by_name():
    class HalfIdentity:
        def identify(self):
            return None

    with pytest.raises(ValueError, match="lacks challenge, how_to_log_in"):
        module_with(provides={"identity": HalfIdentity()})


def test_every_builtin_provider_has_its_services_shape():
    from sandbox.services import SERVICES

    for module in load_modules():
        for name, provider in module.provides.items():
            assert isinstance(provider, SERVICES[name]), (module.name, name)


def test_a_wrapper_sits_in_front_of_whichever_storage_is_on(plug_app, plug):
    client = plug_app.test_client()
    assert client.get("/api/notes/1").status_code == 200
    assert plug.seen["reads"] == [("get", "database")]
    client.patch("/sandbox/modules/database", json={"enabled": False})  # notes in memory now
    client.post("/api/notes", json={"title": "kept in memory"})
    client.get("/api/notes")
    assert plug.seen["reads"][-1] == ("list", "memory")
    client.patch("/sandbox/modules/plug", json={"enabled": False})
    before = len(plug.seen["reads"])
    client.get("/api/notes")
    assert len(plug.seen["reads"]) == before  # off: not in the way


def test_a_module_hears_every_change_to_a_note_while_it_is_on(plug_app, plug):
    client = plug_app.test_client()
    note = client.post("/api/notes", json={"title": "one"}).json
    client.patch(f"/api/notes/{note['id']}", json={"title": "two"})
    client.delete(f"/api/notes/{note['id']}")
    assert plug.seen["changes"] == [
        {"workspace": "local", "note_id": note["id"], "action": action}
        for action in ("insert", "update", "delete")
    ]
    client.patch("/sandbox/modules/plug", json={"enabled": False})
    client.post("/api/notes", json={"title": "unheard"})
    assert len(plug.seen["changes"]) == 3
    client.post("/sandbox/reset")
    assert plug.seen["resets"] == [
        {"workspace": "local"}
    ]  # told even while off: its copies are stale


def plug_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "plug-worker" and t.is_alive()]


def test_a_module_runs_its_background_work_only_while_it_is_on(plug_app, plug):
    client = plug_app.test_client()
    assert plug.seen["lifecycle"] == ["start"] and len(plug_threads()) == 1
    client.patch("/sandbox/modules/plug", json={"enabled": False})
    assert plug.seen["lifecycle"] == ["start", "stop"] and plug_threads() == []
    client.patch("/sandbox/modules/plug", json={"enabled": True})
    client.patch("/sandbox/modules/plug", json={"enabled": True})  # already on: no second start
    assert plug.seen["lifecycle"] == ["start", "stop", "start"] and len(plug_threads()) == 1
    shutdown(plug_app)
    assert plug.seen["lifecycle"][-1] == "stop" and plug_threads() == []


def test_a_reset_puts_the_lifecycle_back_to_the_defaults(plug_app, plug):
    client = plug_app.test_client()
    client.patch("/sandbox/modules/plug", json={"enabled": False})
    client.post("/sandbox/reset")
    assert plug.seen["lifecycle"] == ["start", "stop", "start"] and len(plug_threads()) == 1


def test_a_notebooks_sandbox_leaves_no_thread_behind(plug, tmp_path):
    sb = Sandbox.start(tmp_path / "data", SANDBOX_MODULES=PLUG)
    assert len(plug_threads()) == 1
    sb.restart()
    assert len(plug_threads()) == 1  # the old app's stopped, the new one's started
    sb.stop()
    assert plug_threads() == []


def test_a_module_adds_a_call_to_the_notebook_handle(plug, tmp_path):
    with Sandbox.start(tmp_path / "data", SANDBOX_MODULES=PLUG) as sb:
        sb.enable("plug")
        answers = sb.plugged(times=2)  # Module(handle={"plugged": fn}): fn(sb, times=2)
        assert [a["count"] for a in answers] == [3, 3]  # the three seed notes, counted twice
        assert "plugged" in dir(sb) and "Do the work" in sb.plugged.__doc__
        with pytest.raises(AttributeError, match="these are there: plugged"):
            sb.pluged()  # a typo names the calls that exist
    with pytest.raises(ValueError, match="handle"):
        module_with(handle={"_hidden": lambda sb: None})


def test_work_outside_a_request_has_its_own_record_linked_to_its_cause(plug_app):
    client = plug_app.test_client()
    answer = client.post("/plug/work")
    job = client.get(f"/sandbox/traces/{answer.json['job']}").json
    request_id = answer.headers["X-Sandbox-Trace"]
    assert job["method"] == "JOB" and job["path"] == "count the notes"
    assert job["parent"] == request_id and job["status"] == 200
    assert job["thread"] == "plug-job"
    assert client.get(f"/sandbox/traces/{request_id}").json["thread"] != "plug-job"
    assert any("count(*) from notes" in s["sql"] for s in job["sql"])  # its SQL is its own
    count = answer.json["count"]
    assert {"module": "plug", "message": "counted the notes", "count": count} in without_times(
        job["events"]
    )
    listed = client.get("/sandbox/traces").json["traces"]
    assert any(t["id"] == job["id"] and t["parent"] == request_id for t in listed)


def test_work_outside_a_request_is_announced_on_the_live_feed(plug_app):
    client = plug_app.test_client()
    buffer = plug_app.extensions["sandbox.records"].get("local")
    subscriber, _ = buffer.subscribe()
    job_id = client.post("/plug/work").json["job"]
    texts = []
    while not subscriber.empty():
        texts.append(subscriber.get_nowait().text)
    assert any(f'"id": "{job_id}"' in t and '"parent"' in t for t in texts)


def test_each_module_describes_its_own_routes_and_only_those(app):
    """The api module once wrote every path; now each part writes its own."""
    routes = {}
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
        routes.setdefault(path, set()).add(rule.endpoint.partition(".")[0])
    registry = app.extensions["sandbox.registry"]
    with app.test_request_context():
        for module in registry.modules.values():
            owned = {
                bp.name
                for bp in (module.blueprint, *module.more_blueprints, *module.works_when_off)
            }
            for path in (module.openapi() if module.openapi else {}).get("paths", {}):
                assert routes.get(path, set()) & owned, (module.name, path)
        for path in core_paths():
            assert not any(routes.get(path, set()) & {m.name for m in registry.modules.values()}), (
                path
            )


def test_a_modules_paths_and_settings_join_the_app(plug_app, tmp_path):
    document = plug_app.test_client().get("/api/openapi.json").json
    assert "/plug/work" in document["paths"] and "/api/notes" in document["paths"]
    assert plug_app.config["SANDBOX_PLUG_LEVEL"] == 3
    mine = create_app(
        {
            "SANDBOX_DATA_DIR": str(tmp_path / "mine"),
            "SANDBOX_MODULES": PLUG,
            "SANDBOX_PLUG_LEVEL": 9,
        }
    )
    assert mine.config["SANDBOX_PLUG_LEVEL"] == 9  # the user's setting wins
    shutdown(mine)


PERFORMANCE = ("caching", "indexing", "jobs", "ratelimit")


@pytest.mark.parametrize("name", PERFORMANCE)
def test_a_performance_module_plugs_in_without_the_core_knowing_it(name, tmp_path):
    """Issue 10: adding caching, indexing, jobs and rate limiting edited no core file but the
    list of built-in modules. Each lives in its folder; nothing outside it names it; and the
    sandbox without it still serves its pages, its API and its OpenAPI document."""
    from sandbox.registry import BUILTIN_MODULES

    root = Path(__file__).resolve().parents[1] / "sandbox"
    dotted = f"sandbox.modules.{name}"
    if dotted not in BUILTIN_MODULES:
        pytest.fail(f"{dotted} is not a built-in module yet", pytrace=False)
    folder = root / "modules" / name
    mentions = re.compile(rf"modules[./]{name}\b|\bfrom \.+{name}\b")
    outside = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*")
        if path.suffix in (".py", ".html", ".js", ".sql") and folder not in path.parents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if mentions.search(line) and line.strip() != f'"{dotted}",'
    ]
    assert outside == [], f"the core names {name}: {outside}"
    without = tuple(m for m in BUILTIN_MODULES if m != dotted)
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_MODULES": without})
    try:
        client = app.test_client()
        for path in ("/", "/sandbox/modules", "/api/openapi.json", "/api/notes", "/notes/"):
            assert client.get(path).status_code == 200, path
        assert name not in {m["name"] for m in client.get("/sandbox/modules").json["modules"]}
    finally:
        shutdown(app)


def test_two_apps_in_one_process_each_stop_their_own_background_work(plug, tmp_path):
    first = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "one"), "SANDBOX_MODULES": PLUG})
    second = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "two"), "SANDBOX_MODULES": PLUG})
    assert len(plug_threads()) == 2
    shutdown(second)
    shutdown(first)
    assert plug_threads() == []


def without_times(events: list[dict]) -> list[dict]:
    """Return the events without their at_ms (when each happened: it differs every run)."""
    return [{k: v for k, v in e.items() if k != "at_ms"} for e in events]
