"""The module registry: live toggles, persisted, and the gate for modules that are off."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from helpers import is_problem

from sandbox import create_app
from sandbox.registry import BUILTIN_MODULES, load_modules

ROOT = Path(__file__).resolve().parent.parent


def test_every_builtin_module_has_the_same_small_interface():
    for module in load_modules():
        assert module.name == module.blueprint.name == module.blueprint.url_prefix.strip("/")
        assert module.title and module.summary
        assert all(c.id.startswith(module.name + ".") for c in module.challenges)
    assert len(load_modules()) == len(BUILTIN_MODULES)


def test_modules_are_listed_with_their_state(client):
    body = client.get("/sandbox/modules").json
    server = next(m for m in body["modules"] if m["name"] == "server")
    assert server["enabled"] is True
    assert server["title"] and server["summary"] and server["url_prefix"] == "/server"


def test_a_toggle_is_live_and_answers_the_module(client):
    assert client.get("/server/get").status_code == 200
    body = client.patch("/sandbox/modules/server", json={"enabled": False}).json
    assert body["name"] == "server" and body["enabled"] is False
    problem = is_problem(client.get("/server/get"), 404)
    assert problem["module"] == "server"
    for way in (
        "PATCH /sandbox/modules/server",
        "sb.enable('server')",
        "python app.py enable server",
    ):
        assert way in problem["detail"]
    client.patch("/sandbox/modules/server", json={"enabled": True})
    assert client.get("/server/get").status_code == 200


def test_a_toggle_survives_a_restart(tmp_path):
    config = {"SANDBOX_DATA_DIR": str(tmp_path)}
    create_app(config).test_client().patch("/sandbox/modules/server", json={"enabled": False})
    assert create_app(config).test_client().get("/server/get").status_code == 404


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        ('{"enabled": tru', {"Content-Type": "application/json"}, 400, "not valid JSON"),
        ("[true]", {"Content-Type": "application/json"}, 400, "JSON object"),
        ("", {"Content-Type": "application/json"}, 400, "empty"),
        ('{"enabled": "yes"}', {"Content-Type": "application/json"}, 422, "enabled"),
        ('{"enabled": 1}', {"Content-Type": "application/json"}, 422, "enabled"),
        ("{}", {"Content-Type": "application/json"}, 422, "enabled"),
        ('{"enabled": true, "colour": "red"}', {"Content-Type": "application/json"}, 422, "colour"),
        (
            "enabled=true",
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "Content-Type: application/json",
        ),
    ],
)
def test_a_bad_toggle_is_a_problem_that_says_how_to_fix_it(client, body, headers, status, says):
    response = client.patch("/sandbox/modules/server", data=body, headers=headers)
    assert says in is_problem(response, status)["detail"]
    assert client.get("/sandbox/modules/server").json["enabled"] is True  # nothing changed


def test_an_unknown_module_is_a_404_problem(client):
    problem = is_problem(client.patch("/sandbox/modules/nope", json={"enabled": True}), 404)
    assert "server" in problem["detail"]  # names the modules that do exist
    is_problem(client.get("/sandbox/modules/nope/source"), 404)


def test_hooks_run_only_while_their_module_is_on(probe_app):
    from fixtures.probe import calls

    client = probe_app.test_client()
    calls.update(before=0, after=0)
    response = client.get("/server/get")  # probe is off by default
    assert "X-Probe" not in response.headers and calls == {"before": 0, "after": 0}
    is_problem(client.get("/probe/hello"), 404)
    client.patch("/sandbox/modules/probe", json={"enabled": True})
    response = client.get("/server/get")
    assert response.headers["X-Probe"] == "on"
    record = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json
    assert {"module": "probe", "message": "before hook ran"} in without_times(record["events"])
    assert client.get("/probe/hello").json == {"hello": "world"}


def test_a_toggle_from_another_process_reaches_a_running_server(live, tmp_path):
    assert live.get("/server/get").status_code == 200
    data_dir = live.app.instance_path
    subprocess.run(
        [sys.executable, "app.py", "--data-dir", data_dir, "disable", "server"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    deadline = time.monotonic() + 3
    while live.get("/server/get").status_code != 404:
        assert time.monotonic() < deadline, "the running server never saw the toggle"
        time.sleep(0.05)


def test_a_read_that_began_before_a_toggle_does_not_hide_the_toggle(app, live, monkeypatch):
    # A request reads the switches from the database, then a toggle commits and drops the
    # cache, then the request keeps what it read: the switch as it was before the toggle.
    # Kept as the cache, that would hide the toggle from this server for STATE_TTL seconds.
    reg = app.extensions["sandbox.registry"]
    read, resume, armed = threading.Event(), threading.Event(), [True]
    stored_state = reg.stored_state

    def slow_read(conn):
        state = stored_state(conn)
        if armed and armed.pop():  # the first request only: it stops right after its read
            read.set()
            resume.wait(10)
        return state

    reg.forget_state()
    monkeypatch.setattr(reg, "stored_state", slow_read)
    reader = threading.Thread(target=requests.get, args=(live.url + "/sandbox/health",))
    reader.start()
    try:
        assert read.wait(10)
        assert live.request("PATCH", "/sandbox/modules/server", json={"enabled": False}).ok
    finally:
        resume.set()
        reader.join(10)
    assert not reader.is_alive()
    assert live.get("/sandbox/modules/server").json()["enabled"] is False
    assert live.get("/server/get").status_code == 404


def test_source_is_read_from_the_running_package(client):
    body = client.get("/sandbox/modules/server/source").json
    paths = {f["path"]: f["text"] for f in body["files"]}
    views = paths["sandbox/modules/server/views.py"]
    assert views == (ROOT / "sandbox/modules/server/views.py").read_text(encoding="utf-8")


def without_times(events: list[dict]) -> list[dict]:
    """Return the events without their at_ms (when each happened: it differs every run)."""
    return [{k: v for k, v in e.items() if k != "at_ms"} for e in events]
