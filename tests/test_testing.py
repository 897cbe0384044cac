"""The testing module and its pytest plugin: marked requests, reported runs, challenges.

The plugin is used for real: a learner's test file is written to a temporary folder and
run with ``python -m pytest -p sandbox.testing`` in a process of its own, against a
sandbox served over HTTP (``--sandbox-url``) or on fresh sandboxes of its own. Then the
tests look where a learner would: the runs the server keeps, the records of the requests
each test sent, the page, and the challenges.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, is_problem

from sandbox import db
from sandbox.modules.testing.challenges import SUITE

LEARNERS_TESTS = """
import pytest


def test_a_note_is_created(sandbox):
    created = sandbox.post("/api/notes", json={"title": "from a test"})
    assert created.status_code == 201
    assert sandbox.get(created.headers["Location"]).json()["title"] == "from a test"


@pytest.mark.parametrize("title", ["", "   "])
def test_a_blank_title_is_refused(sandbox, title):
    refused = sandbox.post("/api/notes", json={"title": title})
    assert refused.status_code == 422


def test_a_second_client_is_marked_too(sandbox):
    other = sandbox.client()
    assert other.get(sandbox.url_for("/api/notes")).status_code == 200


def test_arithmetic():
    assert 1 + 1 == 2


def test_that_fails(sandbox):
    assert sandbox.get("/api/notes").status_code == 500
"""

# A learner's test for the off-by-one bug the logging module can plant: page through every
# note two at a time, and compare with the whole list in one page.
BUG_TEST = """
def test_paging_shows_every_note_once(sandbox):
    everything = [n["id"] for n in sandbox.get("/api/notes?limit=100").json()["items"]]
    paged, offset = [], 0
    while page := sandbox.get(f"/api/notes?limit=2&offset={offset}").json()["items"]:
        paged += [n["id"] for n in page]
        offset += 2
    assert paged == everything
"""


def run_pytest(folder: Path, source: str, *args: str) -> subprocess.CompletedProcess:
    """Run a learner's test file with the plugin, in a process of its own; return it."""
    (folder / "test_learner.py").write_text(source, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # the package of this checkout
        # Only the plugin under test: the other installed ones (schemathesis, hypothesis...)
        # take seconds to load, and the entry point of an installed sandbox is this one.
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sandbox.testing", "-p", "no:cacheprovider"]
        + ["-q", "test_learner.py", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def solved(server) -> set[str]:
    challenges = server.get("/sandbox/progress").json()["challenges"]
    return {c["id"] for c in challenges if c["solved"]}


def test_a_suite_run_against_your_sandbox_is_marked_reported_and_solves_the_challenge(
    live, tmp_path
):
    ran = run_pytest(tmp_path, LEARNERS_TESTS, "--sandbox-url", live.url)
    assert ran.returncode == 1, ran.stdout + ran.stderr  # one test fails, on purpose
    assert "1 failed, 5 passed" in ran.stdout
    assert f"run 1 reported to {live.url}: 6 tests, 5 of them sent requests" in ran.stdout

    run = live.get("/testing/runs/1").json()
    assert run["outcomes"]["passed"] == 5 and run["outcomes"]["failed"] == 1
    assert run["passed_with_requests"] == 4 >= SUITE
    results = {r["test"]: r for r in run["results"]}
    assert results["test_learner.py::test_arithmetic"]["requests"] == 0  # a unit test
    assert results["test_learner.py::test_that_fails"]["outcome"] == "failed"
    created = results["test_learner.py::test_a_note_is_created"]
    assert [(s["method"], s["status"]) for s in created["sent"]] == [("POST", 201), ("GET", 200)]
    assert results["test_learner.py::test_a_second_client_is_marked_too"]["requests"] == 1
    assert (
        results["test_learner.py::test_a_blank_title_is_refused[   ]"]["sent"][0]["status"] == 422
    )

    # Each request's record says which test sent it: the header, and the module's event.
    record = live.get(f"/sandbox/traces/{created['sent'][0]['record_id']}").json()
    assert (
        record["request"]["headers"]["X-Sandbox-Test"] == "test_learner.py::test_a_note_is_created"
    )
    [seen] = [e for e in record["events"] if e["module"] == "testing"]
    assert seen["test"] == "test_learner.py::test_a_note_is_created"

    assert "testing.suite" in solved(live)
    page = live.get("/testing/")
    assert page.status_code == 200
    assert "test_learner.py::test_that_fails" in page.text
    assert f"/sandbox/traces/{created['sent'][0]['record_id']}" in page.text


def test_a_run_with_fewer_passing_tests_that_sent_requests_does_not_solve_the_suite(live, tmp_path):
    source = LEARNERS_TESTS.replace("def test_a_second", "def _not_a_test").replace(
        '@pytest.mark.parametrize("title", ["", "   "])\ndef test_a_blank', "def _not_a_blank"
    )
    ran = run_pytest(tmp_path, source, "--sandbox-url", live.url)
    assert "1 failed, 2 passed" in ran.stdout, ran.stdout
    assert live.get("/testing/runs/1").json()["passed_with_requests"] == 1
    assert "testing.suite" not in solved(live)


def test_without_a_url_each_test_gets_a_fresh_sandbox_that_hears_of_its_test(tmp_path):
    source = """
def test_first(sandbox):
    assert sandbox.post("/api/notes", json={"title": "only here"}).status_code == 201


def test_second(sandbox):
    titles = [n["title"] for n in sandbox.get("/api/notes").json()["items"]]
    assert "only here" not in titles  # the first test's note went with its sandbox
"""
    base = tmp_path / "base"
    ran = run_pytest(tmp_path, source, "--basetemp", str(base))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "2 tests ran on a fresh sandbox each" in ran.stdout
    for name in ("test_first", "test_second"):
        # The sandbox is stopped; its data dir stays in the test's temporary folder.
        found = list(base.glob(f"{name}0/sandbox/sandbox.db"))
        assert len(found) == 1, list(base.rglob("*.db"))
        conn = sqlite3.connect(found[0])
        rows = conn.execute("select test, outcome, requests from testing_results").fetchall()
        conn.close()
        assert rows == [(f"test_learner.py::{name}", "passed", 1)]


def plant(server, bug: str | None) -> None:
    """Plant a named bug with the logging module, or remove it, as a learner does."""
    assert server.request("PATCH", "/sandbox/modules/logging", json={"enabled": True}).ok
    body = {"planted": True, "bug": bug} if bug else {"planted": False}
    response = server.post("/logging/bugs", json=body)
    assert response.status_code == 200, response.text


def test_a_test_that_fails_with_a_planted_bug_and_passes_without_solves_the_challenge(
    live, tmp_path
):
    plant(live, "off-by-one")
    red = run_pytest(tmp_path, BUG_TEST, "--sandbox-url", live.url)
    assert "1 failed" in red.stdout, red.stdout + red.stderr
    assert "testing.caught_bug" not in solved(live)
    first = live.get("/testing/runs/1").json()
    assert first["results"][0]["bug_on"] is True and first["caught_bugs"] == []

    plant(live, None)
    green = run_pytest(tmp_path, BUG_TEST, "--sandbox-url", live.url)
    assert "1 passed" in green.stdout, green.stdout + green.stderr
    second = live.get("/testing/runs/2").json()
    assert second["caught_bugs"] == ["test_learner.py::test_paging_shows_every_note_once"]
    assert "testing.caught_bug" in solved(live)


def report(server, tests, session=None):
    body = {"tests": tests, **({"session": session} if session else {})}
    return server.post("/testing/runs", json=body)


def test_failing_without_the_bug_then_passing_is_no_catch(client):
    marked = {"X-Sandbox-Test": "t::x", "X-Sandbox-Test-Session": "s1"}
    assert client.get("/api/notes", headers=marked).status_code == 200
    assert report(client, [{"id": "t::x", "outcome": "failed"}], "s1").status_code == 201
    assert (
        client.get("/api/notes", headers={**marked, "X-Sandbox-Test-Session": "s2"}).status_code
        == 200
    )
    second = report(client, [{"id": "t::x", "outcome": "passed"}], "s2").json
    assert second["caught_bugs"] == []
    assert second["results"][0]["requests"] == 1  # s2's own request; s1's was claimed by run 1


def test_a_report_claims_only_its_own_sessions_requests(client):
    client.get("/api/notes", headers={"X-Sandbox-Test": "t::x", "X-Sandbox-Test-Session": "a"})
    other = report(client, [{"id": "t::x", "outcome": "passed"}], "b").json
    assert other["results"][0]["requests"] == 0
    mine = report(client, [{"id": "t::x", "outcome": "passed"}], "a").json
    assert mine["results"][0]["requests"] == 1


def test_a_request_without_the_header_is_left_alone(client, app):
    response = client.get("/api/notes")
    record = client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json
    assert not [e for e in record["events"] if e["module"] == "testing"]
    conn = db.connect(db.database_path(app), traced=False)
    assert conn.execute("select count(*) from testing_requests").fetchone()[0] == 0
    conn.close()


def test_switched_off_it_marks_nothing_and_the_plugin_says_why(live, tmp_path):
    assert live.request("PATCH", "/sandbox/modules/testing", json={"enabled": False}).ok
    ran = run_pytest(tmp_path, LEARNERS_TESTS, "--sandbox-url", live.url)
    assert f"could not report 6 tests to {live.url}: 404" in ran.stdout, ran.stdout
    assert "1 failed, 5 passed" in ran.stdout  # the tests ran all the same
    assert live.request("PATCH", "/sandbox/modules/testing", json={"enabled": True}).ok
    assert live.get("/testing/runs").json() == {"runs": []}
    conn = db.connect(db.database_path(live.app), traced=False)
    assert conn.execute("select count(*) from testing_requests").fetchone()[0] == 0
    conn.close()


def test_a_reset_forgets_the_runs(client):
    client.get("/api/notes", headers={"X-Sandbox-Test": "t::x"})
    assert report(client, [{"id": "t::x", "outcome": "passed"}]).status_code == 201
    assert client.post("/sandbox/reset").status_code == 200
    assert client.get("/testing/runs").json == {"runs": []}
    assert report(client, [{"id": "t::x", "outcome": "passed"}]).json["number"] == 1


TOO_MANY = [{"id": f"t::{n}", "outcome": "passed"} for n in range(2001)]
BAD_REPORTS = {
    "no tests": ({}, "tests"),
    "tests not a list": ({"tests": {"id": "t"}}, "tests"),
    "an empty list": ({"tests": []}, "tests"),
    "too many tests": ({"tests": TOO_MANY}, "tests"),
    "a test not an object": ({"tests": ["t::x"]}, "tests[0]"),
    "no id": ({"tests": [{"outcome": "passed"}]}, "tests[0].id"),
    "a blank id": ({"tests": [{"id": " \x1f", "outcome": "passed"}]}, "tests[0].id"),
    "an id too long": ({"tests": [{"id": "t" * 501, "outcome": "passed"}]}, "tests[0].id"),
    "an id a number": ({"tests": [{"id": 7, "outcome": "passed"}]}, "tests[0].id"),
    "an unknown outcome": ({"tests": [{"id": "t", "outcome": "green"}]}, "tests[0].outcome"),
    "a negative duration": (
        {"tests": [{"id": "t", "outcome": "passed", "duration_ms": -1}]},
        "tests[0].duration_ms",
    ),
    "a duration as text": (
        {"tests": [{"id": "t", "outcome": "passed", "duration_ms": "3"}]},
        "tests[0].duration_ms",
    ),
    "a duration true": (
        {"tests": [{"id": "t", "outcome": "passed", "duration_ms": True}]},
        "tests[0].duration_ms",
    ),
    "an unknown field in a test": (
        {"tests": [{"id": "t", "outcome": "passed", "colour": "red"}]},
        "tests[0].colour",
    ),
    "an unknown field": ({"tests": [{"id": "t", "outcome": "passed"}], "who": "me"}, "who"),
    "a blank session": ({"tests": [{"id": "t", "outcome": "passed"}], "session": ""}, "session"),
}


@pytest.mark.parametrize("body, field", BAD_REPORTS.values(), ids=BAD_REPORTS.keys())
def test_a_malformed_report_is_a_422_naming_the_field(client, body, field):
    problem = is_problem(client.post("/testing/runs", json=body), 422)
    # Where each error is, as a path: tests[0].outcome (from its loc: ["tests", 0, "outcome"]).
    places = [
        "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e["loc"]).lstrip(".")
        for e in problem["errors"]
    ]
    assert field in places, problem["errors"]
    assert client.get("/testing/runs").json == {"runs": []}


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        ("", "application/json", 400),
        ("{not json", "application/json", 400),
        (
            '{"tests": [{"id": "t", "outcome": "passed", "duration_ms": NaN}]}',
            "application/json",
            422,
        ),
        ('["t::x"]', "application/json", 400),
        ("tests=t::x", "application/x-www-form-urlencoded", 415),
    ],
    ids=["empty", "not JSON", "NaN", "a list", "a form"],
)
def test_a_report_that_is_not_a_json_object_is_a_4xx_problem(client, data, content_type, status):
    is_problem(client.post("/testing/runs", data=data, content_type=content_type), status)


@pytest.mark.parametrize("number", ["0", "2", "-1", "99999999999999999999", "x"])
def test_a_run_that_does_not_exist_is_a_404_problem(client, number):
    assert report(client, [{"id": "t", "outcome": "passed"}]).status_code == 201
    is_problem(client.get(f"/testing/runs/{number}"), 404)


def test_a_huge_or_odd_test_header_is_cut_not_a_failure(client):
    long = "t::" + "x" * 5000
    response = client.get("/api/notes", headers={"X-Sandbox-Test": long})
    assert response.status_code == 200
    run = report(client, [{"id": long[:500], "outcome": "passed"}]).json
    assert run["results"][0]["requests"] == 1


def test_each_student_has_runs_of_their_own(ada, bob):
    marked = {"X-Sandbox-Test": "t::x", "X-Sandbox-Test-Session": "s"}
    for _ in range(SUITE):
        assert ada.get("api/notes", headers=marked).status_code == 200
    tests = [{"id": "t::x", "outcome": "passed"}]
    # Bob reports the same test and session: Ada's requests are not his to claim.
    bobs = bob.post("testing/runs", json={"tests": tests, "session": "s"}).json()
    assert bobs["results"][0]["requests"] == 0
    adas = ada.post("testing/runs", json={"tests": tests, "session": "s"}).json()
    assert adas["number"] == 1 and adas["results"][0]["requests"] == SUITE
    assert [r["number"] for r in bob.get("testing/runs").json()["runs"]] == [1]
    assert bob.get("testing/runs/1").json()["results"][0]["requests"] == 0


def test_the_plugin_is_gathered_from_the_module_and_shown_on_its_source_page(client):
    import sandbox.testing

    assert sandbox.testing.pytest_plugins == ["sandbox.modules.testing.pytest_plugin"]
    paths = [f["path"] for f in client.get("/sandbox/modules/testing/source").json["files"]]
    assert "sandbox/modules/testing/pytest_plugin.py" in paths
