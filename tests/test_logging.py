"""The logging module: structured lines tied to records, live levels, planted bugs, the drill.

Each test looks where a learner would: the log lines (GET /logging/lines, the viewer),
the records they lead to, the SQL in them, the notes' own answers, and the challenges.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import datetime

import pytest
from helpers import is_problem, serve

from sandbox import create_app
from sandbox.modules.logging import logs
from sandbox.modules.logging.bugs import BUGS, PER_NOTE_SQL, planted_bug
from sandbox.registry import shutdown


@pytest.fixture
def on(client):
    response = client.patch("/sandbox/modules/logging", json={"enabled": True})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


def record(client, response) -> dict:
    return client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json


def lines(client, **filters) -> list[dict]:
    answer = client.get("/logging/lines", query_string={"limit": 1000, **filters})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json["lines"]


def plant(client, bug: str | None = None) -> None:
    body = {"planted": True, **({"bug": bug} if bug else {})}
    assert client.post("/logging/bugs", json=body).status_code == 200


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def database(app) -> sqlite3.Connection:
    return sqlite3.connect(f"{app.instance_path}/sandbox.db")


def test_off_the_logs_are_plain_print_lines_and_no_bug_is_planted(app, client):
    client.get("/api/notes")
    found = lines(client)
    assert found and all(set(line) == {"seq", "plain"} for line in found)
    assert any(line["plain"].startswith("GET /api/notes 200") for line in found)
    is_problem(client.get("/logging/levels"), 404)  # the module's switches: off
    client.patch("/sandbox/modules/logging", json={"enabled": True})
    plant(client, "n-plus-one")
    assert planted_bug(database(app), "local") == "n-plus-one"
    client.patch("/sandbox/modules/logging", json={"enabled": False})
    assert planted_bug(database(app), "local") is None  # off: no bug, whatever is stored
    listed = record(client, client.get("/api/notes"))
    assert not any(s["sql"].startswith(PER_NOTE_SQL) for s in listed["sql"])


def test_each_line_carries_its_record_id_and_the_record_lists_its_lines(on):
    on.put("/logging/levels", json={"module": "notes", "level": "DEBUG"})
    answer = on.get("/api/notes?limit=2")
    trace_id = answer.headers["X-Sandbox-Trace"]
    mine = lines(on, record=trace_id)
    assert {line["record_id"] for line in mine} == {trace_id}
    assert any(line["message"] == "GET /api/notes -> 200" for line in mine)
    debug = next(line for line in mine if line["level"] == "DEBUG")
    assert debug["module"] == "notes" and debug["data"] == {
        "offset": 0,
        "limit": 2,
        "sort": "created",
    }
    listed = {e["log_seq"] for e in record(on, answer)["events"] if "log_seq" in e}
    assert listed == {line["seq"] for line in mine}  # the record lists its lines
    json.dumps(mine)  # every line is JSON as it is


def test_levels_change_live_per_module_and_per_workspace(on):
    on.put("/logging/levels", json={"module": "notes", "level": "DEBUG"})
    on.get("/api/notes")
    assert any(line["level"] == "DEBUG" for line in lines(on, module="notes"))
    changed = on.put("/logging/levels", json={"module": "*", "level": "WARNING"})
    assert changed.json["levels"] == {"*": "WARNING", "notes": "DEBUG"}
    on.put("/logging/levels", json={"module": "notes", "level": "ERROR"})
    seen = lines(on)[-1]["seq"]
    on.get("/api/notes")
    on.get("/api/notes/999")  # a 404: a WARNING line
    after = lines(on, after=seen)
    assert [line["level"] for line in after] == ["WARNING"]
    assert after[0]["message"] == "GET /api/notes/999 -> 404"


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"level": "LOUD"}, "Must be one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'"),
        ({"level": ""}, '(got "")'),
        ({"limit": "0"}, "At least 1 (got 0)"),
        ({"after": "-1"}, "At least 0 (got -1)"),
        ({"after": "1x"}, "Must be a whole number"),
        ({"q": "x" * 201}, "At most 200 characters"),
        ({"module": "nope"}, "There is no module 'nope' writing logs"),
        ({"colour": "red"}, "Unknown query parameter"),
    ],
)
def test_a_bad_filter_is_a_422_that_says_what_fits(client, query, says):
    problem = is_problem(client.get("/logging/lines", query_string=query), 422)
    ((name, _),) = query.items()
    (error,) = problem["errors"]
    assert error["loc"] == ["query", name]
    assert says in error["message"], error["message"]


def test_bad_levels_and_bad_answers_are_4xx_problems(on):
    bad = is_problem(on.put("/logging/levels", json={"module": "nope", "level": "LOUD"}), 422)
    assert {e["field"] for e in bad["errors"]} == {"module", "level"}
    is_problem(on.put("/logging/levels", json={"module": "notes"}), 422)
    assert (
        "No bug is planted"
        in is_problem(on.post("/logging/bugs/answer", json={"bug": "timezone"}), 409)["detail"]
    )
    is_problem(on.post("/logging/bugs", json={"planted": True, "bug": "gremlins"}), 422)
    plant(on, "timezone")
    is_problem(on.post("/logging/bugs/answer", json={"bug": "gremlins"}), 422)
    wrong = is_problem(on.post("/logging/bugs/answer", json={"bug": "off-by-one"}), 422)
    assert "not the bug planted here" in wrong["detail"]
    assert on.get("/logging/bugs").json["guesses"] == 1
    is_problem(on.post("/logging/drill/answer", json={"record": "nope"}), 422)
    not_a_job = on.get("/api/notes").headers["X-Sandbox-Trace"]
    is_problem(on.post("/logging/drill/answer", json={"record": not_a_job}), 422)
    is_problem(on.post("/logging/n-plus-one", json={"record": not_a_job, "sql_count": 1}), 422)
    is_problem(on.post("/logging/n-plus-one", json={"record": not_a_job}), 422)


def test_secrets_are_redacted_in_logs_as_in_records(app, on):
    with app.test_request_context("/"):
        logs.logger("auth").info(
            "login with password=hunter2 accepted", extra={"api_key": "k-123", "user": "ada"}
        )
    line = lines(on, module="auth")[-1]
    assert "hunter2" not in json.dumps(line) and "k-123" not in json.dumps(line)
    assert line["data"] == {"api_key": "[redacted]", "user": "ada"}
    assert line["message"] == "login with password=[redacted] accepted"


def test_the_log_file_holds_one_json_line_per_event_and_rotates(tmp_path):
    path = tmp_path / "sandbox.log"
    app = create_app(
        {
            "SANDBOX_DATA_DIR": str(tmp_path / "data"),
            "SANDBOX_LOG_FILE": str(path),
            "SANDBOX_LOG_FILE_BYTES": 4000,
            "SANDBOX_LOG_FILE_KEEP": 2,
        }
    )
    try:
        client = app.test_client()
        client.get("/api/notes")  # off: a plain line
        client.patch("/sandbox/modules/logging", json={"enabled": True})
        ids = {client.get("/api/notes").headers["X-Sandbox-Trace"] for _ in range(40)}
    finally:
        shutdown(app)
    assert (tmp_path / "sandbox.log.1").exists() and (tmp_path / "sandbox.log.2").exists()
    assert not (tmp_path / "sandbox.log.3").exists()  # only KEEP old files
    written = [json.loads(t) for t in path.read_text(encoding="utf-8").splitlines()]
    assert written and {line["record_id"] for line in written} <= ids
    # Rotated once it reached the size: a file passes it by its last line at most.
    files = list(tmp_path.glob("sandbox.log*"))
    longest = max(len(t.encode()) + 1 for f in files for t in f.read_text().splitlines())
    assert all(path.stat().st_size <= 4000 + longest for path in files)


def test_work_outside_a_request_logs_with_its_own_record_id(on):
    drill = on.post("/logging/drill")
    parent = drill.headers["X-Sandbox-Trace"]
    batches = [line for line in lines(on, q="import batch") if line["level"] == "INFO"]
    jobs = {line["record_id"] for line in batches if line["module"] == "logging"}
    assert len(jobs) == 11  # twelve jobs, one failed before its line
    for job in jobs:
        trace = on.get(f"/sandbox/traces/{job}").json
        assert trace["method"] == "IMPORT" and trace["parent"] == parent


def test_an_unhandled_exception_is_tracked_with_its_source_lines(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})

    def divide():
        zero = 0
        return {"result": 1 / zero}

    app.add_url_rule("/divide", view_func=divide)
    try:
        client = app.test_client()
        client.patch("/sandbox/modules/logging", json={"enabled": True})
        answer = client.get("/divide")
        assert answer.status_code == 500
        tracked = next(e for e in record(client, answer)["events"] if e.get("tracked"))
        frame = tracked["error"]["frames"][-1]
        assert frame["function"] == "divide"
        here = next(s for s in frame["source"] if s["here"])
        assert here["text"].strip() == 'return {"result": 1 / zero}'
        assert any(s["text"].strip() == "zero = 0" for s in frame["source"])  # the lines around
        errors = lines(client, level="ERROR")
        assert {line["record_id"] for line in errors} == {answer.headers["X-Sandbox-Trace"]}
        assert any(line.get("exception", {}).get("type") == "ZeroDivisionError" for line in errors)
    finally:
        shutdown(app)


def test_off_by_one_skips_a_note_at_every_page_boundary(on):
    on.post("/api/notes", json={"title": "four"})
    on.post("/api/notes", json={"title": "five"})

    def paged():
        return [
            n["id"]
            for offset in (0, 2, 4)
            for n in on.get(f"/api/notes?limit=2&offset={offset}").json["items"]
        ]

    assert paged() == [1, 2, 3, 4, 5]
    plant(on, "off-by-one")
    assert paged() == [1, 2, 4, 5]
    second = record(on, on.get("/api/notes?limit=2&offset=2"))
    assert second["sql"][0]["params"][-1] == 3  # the OFFSET: one more than asked


def test_the_time_zone_bug_puts_updated_hours_before_created(on):
    plant(on, "timezone")
    note = on.post("/api/notes", json={"title": "now"}).json
    changed = on.patch(f"/api/notes/{note['id']}", json={"title": "later"}).json
    created = datetime.fromisoformat(changed["created_at"])
    updated = datetime.fromisoformat(changed["updated_at"])
    assert 6.9 * 3600 < (created - updated).total_seconds() < 7.1 * 3600


def test_the_n_plus_one_runs_one_query_per_listed_note(on):
    before = len(record(on, on.get("/api/notes"))["sql"])
    plant(on, "n-plus-one")
    listed = record(on, on.get("/api/notes"))
    per_note = [s for s in listed["sql"] if s["sql"].startswith(PER_NOTE_SQL)]
    assert len(per_note) == 3 and len(listed["sql"]) == before + 3  # the three seeded notes


def overlapping_edits(tmp_path, bug: str | None) -> dict:
    """Two edits of one note sent 0.2 s apart, while the first one's slow step lasts 1 s."""
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_LOG_RACE_WINDOW": 1.0})
    with serve(app) as server:
        import requests

        s = requests.Session()
        s.patch(server.url + "/sandbox/modules/logging", json={"enabled": True})
        if bug:
            s.post(server.url + "/logging/bugs", json={"planted": True, "bug": bug})
        first = threading.Thread(
            target=lambda: requests.patch(server.url + "/api/notes/1", json={"title": "first"})
        )
        first.start()
        time.sleep(0.2)
        requests.patch(server.url + "/api/notes/1", json={"tags": ["second"]})
        first.join()
        note = s.get(server.url + "/api/notes/1").json()
    shutdown(app)
    return note


def test_the_lost_update_loses_one_of_two_overlapping_edits(tmp_path):
    lost = overlapping_edits(tmp_path / "bug", "lost-update")
    assert lost["tags"] == ["second"] and lost["title"] != "first"  # the first edit is gone
    kept = overlapping_edits(tmp_path / "none", None)
    assert kept["tags"] == ["second"] and kept["title"] == "first"


def test_one_test_solves_every_challenge(app, on):
    assert not solved(on) & {"logging.find_record", "logging.name_bug", "logging.n_plus_one"}
    # Find the failed job's record from its log line.
    on.post("/logging/drill")
    error = next(line for line in lines(on, level="ERROR") if line["message"].startswith("IMPORT"))
    assert on.post("/logging/drill/answer", json={"record": error["record_id"]}).status_code == 200
    # Name a bug planted at random (which one: read from the database, as the test may).
    plant(on)
    bug = planted_bug(database(app), "local")
    assert bug in BUGS and "bug" not in on.get("/logging/bugs").json  # the API does not say
    assert on.post("/logging/bugs/answer", json={"bug": bug}).json["correct"] is True
    # Spot the N+1 from a list's SQL count.
    plant(on, "n-plus-one")
    listed = on.get("/api/notes")
    count = len(record(on, listed)["sql"])
    body = {"record": listed.headers["X-Sandbox-Trace"], "sql_count": count}
    assert on.post("/logging/n-plus-one", json=body).status_code == 200
    assert {"logging.find_record", "logging.name_bug", "logging.n_plus_one"} <= solved(on)


def test_naming_a_bug_planted_on_purpose_does_not_count(on):
    plant(on, "timezone")
    assert on.post("/logging/bugs/answer", json={"bug": "timezone"}).status_code == 200
    assert "logging.name_bug" not in solved(on)


def test_the_viewer_filters_and_follows_without_a_cdn(client):
    page = client.get("/logging/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "module is off" in html
    assert "https://" not in html and 'name="level"' in html and 'name="record"' in html
    client.patch("/sandbox/modules/logging", json={"enabled": True})
    assert "module is off" not in client.get("/logging/").get_data(as_text=True)


def test_a_student_never_sees_a_classmates_logs_or_bug(ada, bob):
    for student in (ada, bob):
        student.switch("logging", {"enabled": True})
    ada.request("PUT", "logging/levels", json={"module": "notes", "level": "DEBUG"})
    ada.post("logging/bugs", json={"planted": True})
    ada_ids = {ada.get("api/notes").headers["X-Sandbox-Trace"] for _ in range(3)}
    bob_lines = bob.get("logging/lines", params={"limit": 1000}).json()["lines"]
    assert bob_lines and not {line["record_id"] for line in bob_lines} & ada_ids
    assert {line["workspace"] for line in bob_lines} == {bob.workspace}
    assert not any(line["level"] == "DEBUG" for line in bob_lines)  # ada's level is hers
    assert bob.get("logging/bugs").json()["planted"] is False
    ada_id = next(iter(ada_ids))
    assert bob.get("logging/lines", params={"record": ada_id}).json()["lines"] == []
    mine = ada.get("logging/lines", params={"record": ada_id}).json()["lines"]
    assert mine and mine[0]["workspace"] == ada.workspace


def test_the_viewers_live_tail_shows_a_new_line_without_a_reload_and_filters_by_level(
    browser, on, app
):
    from playwright.sync_api import expect
    from test_browser import open_page

    with serve(app) as live, open_page(browser, live.url + "/logging/") as page:
        rows = page.locator("#log-lines tbody tr")
        expect(rows.first).to_be_visible()  # the lines so far (switching the module on)
        page.evaluate("window.notReloaded = true")  # gone if the page were loaded again
        # Requests from outside the page: another client, as a learner's script would be.
        info = live.get("/server/get").headers["X-Sandbox-Trace"]
        live.get("/api/notes/999999")  # a 404: its request's line is a WARNING
        info_row = rows.filter(has_text="GET /server/get -> 200")
        warning_row = rows.filter(has_text="GET /api/notes/999999 -> 404")
        expect(info_row).to_contain_text(info)
        expect(warning_row).to_contain_text("WARNING")
        assert page.evaluate("window.notReloaded") is True

        page.select_option("select[name=level]", "WARNING")
        page.click("#log-filters button[type=submit]")
        expect(warning_row).to_have_count(1)
        expect(info_row).to_have_count(0)  # INFO: below the level chosen
        levels = rows.evaluate_all("rows => rows.map(r => r.cells[1].textContent)")
        assert levels and set(levels) <= {"WARNING", "ERROR", "CRITICAL"}
