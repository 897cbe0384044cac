"""The notebook handle: start, drive, look inside, stop."""

from __future__ import annotations

import time

import pytest
import requests

from sandbox import Sandbox
from sandbox.handle import SandboxProblem


@pytest.fixture
def sb():
    sandbox = Sandbox.start()
    yield sandbox
    sandbox.stop()


def test_start_answers_quickly_and_on_loopback():
    started = time.perf_counter()
    sandbox = Sandbox.start()
    try:
        elapsed = time.perf_counter() - started
        assert sandbox.url.startswith("http://127.0.0.1:")
        assert requests.get(sandbox.url + "/sandbox/health", timeout=2).json()["status"] == "ok"
        assert elapsed < 2, elapsed  # the bench measures the real figure; this catches a hang
    finally:
        sandbox.stop()


def test_starting_again_replaces_the_old_server():
    first = Sandbox.start()
    data_dir = first.data_dir
    second = Sandbox.start()
    try:
        with pytest.raises(requests.ConnectionError):
            requests.get(first.url + "/sandbox/health", timeout=2)
        assert not data_dir.exists()  # its temporary data dir is gone too
        assert second.get("/sandbox/health").ok
    finally:
        second.stop()


def test_a_given_data_dir_is_kept(tmp_path):
    with Sandbox.start(tmp_path / "mine") as sandbox:
        sandbox.disable("server")
    assert (tmp_path / "mine" / "sandbox.db").exists()
    with Sandbox.start(tmp_path / "mine") as sandbox:
        assert sandbox.get("/server/get").status_code == 404


def test_responses_are_requests_responses_that_know_their_record(sb):
    response = sb.get("/server/get", params={"q": "1"})
    assert isinstance(response, requests.Response)
    assert response.json()["args"] == {"q": "1"}
    assert response.trace_id == response.headers["X-Sandbox-Trace"]
    html = response._repr_html_()
    assert "200" in html and response.trace_id in html and "/server/get" in html


def test_trace_shows_the_last_request(sb):
    sb.patch("/sandbox/modules/server", json={"enabled": True})
    record = sb.trace()
    assert record["path"] == "/sandbox/modules/server" and record["sql"]
    html = record._repr_html_()
    assert "module_state" in html and "Events" in html


def test_toggles_from_the_handle(sb):
    assert {m["name"]: m["enabled"] for m in sb.modules}["server"] is True
    assert sb.disable("server")["enabled"] is False
    assert sb.get("/server/get").status_code == 404
    assert sb.enable("server")["enabled"] is True
    with pytest.raises(SandboxProblem, match="no module named 'nope'"):
        sb.enable("nope")
    assert "<table class='sbx-table'>" in sb.modules._repr_html_()


def test_sql_and_db_see_the_same_file(sb):
    sb.db["notes"].insert(
        {
            "workspace": "local",
            "owner": "guest",
            "title": "from sb.db",
            "body": "",
            "tags": "[]",
            "created_at": "x",
            "updated_at": "x",
        }
    )
    rows = sb.sql("select title from notes where title = 'from sb.db'")
    assert rows == [{"title": "from sb.db"}]
    plan = sb.sql("select * from notes where id = 1", explain=True).plan
    assert plan and "<table class='sbx-table'>" in sb.sql("select 1 as one")._repr_html_()
    with pytest.raises(SandboxProblem, match="read-only"):
        sb.sql("delete from notes")


def test_progress_source_traces_and_reset(sb):
    sb.get("/server/status/418")
    assert {c["id"]: c["solved"] for c in sb.progress()}["server.teapot"] is True
    assert sb.traces(status=418)[0]["path"] == "/server/status/418"
    assert any(f["path"].endswith("views.py") for f in sb.source("server")["files"])
    sb.reset()
    assert {c["id"]: c["solved"] for c in sb.progress()}["server.teapot"] is False


def test_connect_drives_a_sandbox_over_http_only(sb):
    remote = Sandbox.connect(sb.url)
    assert remote.get("/server/get").ok
    assert remote.trace()["path"] == "/server/get"
    with pytest.raises(RuntimeError, match="Sandbox.start"):
        remote.db  # noqa: B018


def test_connect_to_nothing_says_how_to_start_one():
    with pytest.raises(ConnectionError, match="python app.py"):
        Sandbox.connect("http://127.0.0.1:9")


def test_handle_conveniences(sb):
    from sandbox import SandboxProblem as Exported

    assert Exported is SandboxProblem
    first = sb.get("/server/redirect/2")
    assert sb.trace(first.history[0])["path"] == "/server/redirect/2"
    sb.progress()
    assert all(not t["path"].startswith("/sandbox/") for t in sb.traces())
    assert any(t["path"].startswith("/sandbox/") for t in sb.traces(everything=True))
    assert {c["id"].split(".")[0] for c in sb.progress(module="server")} == {"server"}
    files = sb.source("server", "auth.py")["files"]
    assert [f["path"] for f in files] == ["sandbox/modules/server/auth.py"]
    sb.get("/server/cookies/set?flavour=mint")
    sb.reset()
    assert not sb.session.cookies


def test_progress_shows_this_notebooks_module_and_one_line_for_the_rest(sb, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    # Nothing done yet: one line per module, not every challenge.
    summary = sb.progress()
    assert summary.columns == ["module", "solved", "of"]
    assert {r["module"] for r in summary} >= {"server", "auth"} and len(summary) < 20
    # The module last switched on is what the notebook is about...
    sb.enable("caching")
    shown = sb.progress()
    assert {c["id"].split(".")[0] for c in shown} == {"caching"}
    assert "Other modules: server 0/" in shown.note and "caching" not in shown.note
    assert "Other modules" in shown._repr_html_()
    # ...unless Jupyter names the notebook's file (JupyterLab sets JPY_SESSION_NAME).
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/ada/notebooks/05-encryption.ipynb")
    assert {c["id"].split(".")[0] for c in sb.progress()} == {"encryption"}
    # Named, or all of them, as before.
    assert {c["id"].split(".")[0] for c in sb.progress("auth")} == {"auth"}
    assert len(sb.progress(every=True)) > len(summary)
    with pytest.raises(LookupError, match="Modules: server"):
        sb.progress("nope")


def test_progress_follows_the_last_request_when_nothing_was_switched(sb, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    sb.get("/server/status/418")
    assert {c["id"]: c["solved"] for c in sb.progress()}["server.teapot"] is True
    assert {c["id"].split(".")[0] for c in sb.progress()} == {"server"}
