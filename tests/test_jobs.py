"""The jobs module: slow work leaves the request for a queue, and its workers run it.

Each test looks where a learner would: the 202 and its Location, the job as GET /jobs/<id>
shows it (status, attempts, tries), the records (the job's own, its parent, its thread),
the archive in the outbox, the queue's file, and the challenges.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from helpers import is_problem

from sandbox import Sandbox, create_app
from sandbox.modules.jobs.queue import backend
from sandbox.registry import shutdown

PW = "correct horse battery"
DONE = ("done", "failed")


@pytest.fixture
def on(client):
    response = client.patch("/sandbox/modules/jobs", json={"enabled": True})
    assert response.status_code == 200, response.get_data(as_text=True)
    return client


@pytest.fixture
def quick(tmp_path):
    """A sandbox with jobs on whose retries come quickly: one retry, 0.1 s later."""
    config = {"SANDBOX_JOBS_RETRIES": 1, "SANDBOX_JOBS_RETRY_DELAY": 0.1}
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), **config})
    client = app.test_client()
    client.patch("/sandbox/modules/jobs", json={"enabled": True})
    yield client
    shutdown(app)


def record(client, response_or_id) -> dict:
    trace = getattr(response_or_id, "headers", {}).get("X-Sandbox-Trace", response_or_id)
    return client.get(f"/sandbox/traces/{trace}").json


def poll(client, url: str, seconds: float = 30) -> dict:
    """GET a job every 0.1 s until it is done or failed; return it."""
    deadline = time.monotonic() + seconds
    while True:
        job = client.get(url).json
        if job["status"] in DONE or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def generate(client, count: int) -> None:
    response = client.post("/caching/notes", json={"count": count, "seed": 3})
    assert response.status_code == 201, response.get_data(as_text=True)


def job_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("jobs-") and t.is_alive()]


def solved(client) -> set[str]:
    return {c["id"] for c in client.get("/sandbox/progress").json["challenges"] if c["solved"]}


def archive_titles(app, result: dict) -> list[str]:
    with zipfile.ZipFile(Path(app.instance_path) / result["file"]) as archive:
        names = archive.namelist()
        assert "manifest.json" in names
        return [archive.read(n).decode().splitlines()[0] for n in names if n.startswith("notes/")]


def test_off_the_export_runs_inside_the_request_and_jobs_answer_404(client, app):
    is_problem(client.get("/jobs"), 404)
    answer = client.post("/api/notes/export")
    assert answer.status_code == 200 and answer.json["ran"] == "inside the request"
    result = answer.json["result"]
    assert result["notes"] == 3 and result["file"].startswith("outbox/local/")
    assert sorted(archive_titles(app, result)) == [
        "# HTTP in one line",
        "# Welcome to the sandbox",
        "# Where data lives",
    ]
    events = [e for e in record(client, answer)["events"] if e["module"] == "jobs"]
    assert any("exported" in e for e in events)  # the work is in the request's own record
    assert job_threads() == []  # off: no worker runs


def test_on_the_export_answers_202_at_once_and_a_worker_thread_builds_it(on, app):
    answer = on.post("/api/notes/export")
    assert answer.status_code == 202 and answer.json["status"] == "queued"
    location = answer.headers["Location"]
    assert location == f"/jobs/{answer.json['id']}" and answer.headers["Retry-After"] == "1"
    job = poll(on, location)
    assert job["status"] == "done" and job["attempts"] == 1 and job["error"] is None
    assert sorted(archive_titles(app, job["result"]))[0] == "# HTTP in one line"
    assert job["result"]["file"] == f"outbox/local/job-{job['id']}.zip"
    request = record(on, answer)
    assert not any("exported" in e for e in request["events"])  # not done in the request
    work = record(on, job["tries"][0]["record"])
    assert work["method"] == "JOB" and work["parent"] == request["id"] == job["request_record"]
    assert work["thread"].startswith("jobs-worker-") and work["thread"] != request["thread"]
    assert any("exported" in e for e in work["events"])
    assert any("update jobs set status = 'running'" in s["sql"] for s in work["sql"])  # its SQL
    assert any("select * from notes" in s["sql"] for s in work["sql"])


def test_the_request_is_many_times_faster_with_the_work_off_it(on):
    generate(on, 300)
    on.patch("/sandbox/modules/jobs", json={"enabled": False})
    inside = on.post("/api/notes/export")
    on.patch("/sandbox/modules/jobs", json={"enabled": True})
    queued = on.post("/api/notes/export")
    assert poll(on, queued.headers["Location"])["result"]["notes"] == 303
    inside_ms, queued_ms = record(on, inside)["duration_ms"], record(on, queued)["duration_ms"]
    assert inside_ms >= 5 * queued_ms, (inside_ms, queued_ms)


def test_a_failing_job_is_retried_with_a_growing_delay_then_done(on):
    answer = on.post("/api/notes/export", json={"fail_times": 2})
    job = poll(on, answer.headers["Location"])
    assert job["status"] == "done" and job["attempts"] == 3 and job["error"] is None
    first, second, third = job["tries"]
    assert [t["outcome"] for t in job["tries"]] == ["failed", "failed", "done"]
    assert "fail_times=2" in first["error"] and "try 2" in second["error"]
    assert (first["retry_in_seconds"], second["retry_in_seconds"]) == (1, 2)  # backoff: doubles

    def gap(earlier, later):  # seconds from one try's end to the next one's start
        ended, started = (
            datetime.fromisoformat(t) for t in (earlier["ended_at"], later["started_at"])
        )
        return (started - ended).total_seconds()

    assert gap(first, second) >= 1 and gap(second, third) >= 2
    failed = record(on, first["record"])
    assert failed["status"] == 500 and failed["exception"]["type"] == "ExportFailed"
    assert "jobs.retried" in solved(on)


def test_after_the_last_try_a_job_is_failed_with_its_error(quick):
    job = poll(quick, quick.post("/api/notes/export", json={"fail_times": 5}).headers["Location"])
    assert job["status"] == "failed" and job["attempts"] == 2 and job["result"] is None
    assert job["error"].startswith("ExportFailed: try 2 failed on purpose")
    assert job["finished_at"] is not None
    time.sleep(1.5)  # no third try comes later
    assert quick.get(f"/jobs/{job['id']}").json["attempts"] == 2


def test_a_job_runs_as_the_user_who_queued_it_and_only_they_see_it(on, app):
    on.patch("/sandbox/modules/auth", json={"enabled": True})
    on.patch("/sandbox/modules/encryption", json={"enabled": True})
    on.post("/auth/register", json={"username": "alice", "password": PW})
    on.post("/api/notes", json={"title": "alice's own", "body": "for her eyes"})
    answer = on.post("/api/notes/export")
    job = poll(on, answer.headers["Location"])
    assert job["owner"] == "alice" and archive_titles(app, job["result"]) == ["# alice's own"]
    with zipfile.ZipFile(Path(app.instance_path) / job["result"]["file"]) as archive:
        assert "for her eyes" in archive.read(archive.namelist()[0]).decode()  # decrypted
    on.post("/auth/logout")
    on.post("/auth/register", json={"username": "bob", "password": PW})
    is_problem(on.get(answer.headers["Location"]), 404)
    assert on.get("/jobs").json["jobs"] == []
    assert on.post("/auth/logout", json={}).status_code == 204
    is_problem(on.post("/api/notes/export"), 401)


def test_the_live_feed_announces_the_job_when_it_ends(on, app):
    subscriber, _ = app.extensions["sandbox.records"].get("local").subscribe()
    answer = on.post("/api/notes/export")
    job = poll(on, answer.headers["Location"])
    messages = []
    while not subscriber.empty():
        messages.append(subscriber.get_nowait())
    traces = [m.data for m in messages if m.kind == "trace"]
    work = next(t for t in traces if t["id"] == job["tries"][0]["record"])
    assert work["method"] == "JOB" and work["parent"] == answer.headers["X-Sandbox-Trace"]


def test_the_workers_run_only_while_the_module_is_on(client, app):
    assert job_threads() == []
    client.patch("/sandbox/modules/jobs", json={"enabled": True})
    assert sorted(job_threads()) == ["jobs-scheduler", "jobs-worker-1", "jobs-worker-2"]
    assert client.get("/jobs/queue").json == {
        "backend": "sqlite",
        "workers": 2,
        "running": True,
        "waiting": 0,
        "scheduled": 0,
    }
    client.patch("/sandbox/modules/jobs", json={"enabled": False})
    assert job_threads() == []
    client.patch("/sandbox/modules/jobs", json={"enabled": True})
    shutdown(app)
    assert job_threads() == []


def test_a_job_still_queued_when_the_server_stops_runs_after_it_starts_again(tmp_path):
    sb = Sandbox.start(tmp_path / "data", SANDBOX_JOBS_WORKERS=1)
    try:
        sb.post("/caching/notes", json={"count": 400, "seed": 1})
        sb.enable("jobs")
        urls = [sb.post("/api/notes/export").headers["Location"] for _ in range(3)]
        while sb.get(urls[0]).json()["status"] != "running":
            time.sleep(0.02)
        stopped = time.monotonic()
        sb.restart()  # one worker: the first job is running, the other two wait in the queue
        assert time.monotonic() - stopped < 5  # the running job stopped between two notes
        jobs = [poll_http(sb, url) for url in urls]
        assert [j["status"] for j in jobs] == ["done"] * 3
        first = jobs[0]["tries"]
        assert [t["outcome"] for t in first] == ["interrupted", "done"]  # ran twice: at least once
        assert "the server stopped after" in first[0]["error"]
        assert all(len(j["tries"]) == 1 for j in jobs[1:])  # never started before the restart
        outbox = sorted(p.name for p in (sb.data_dir / "outbox" / "local").iterdir())
        assert outbox == [f"job-{j['id']}.zip" for j in jobs]  # twice run, one file
        queue = sqlite3.connect(sb.data_dir / "jobs.db")
        assert queue.execute("select count(*) from task").fetchone() == (0,)
        queue.close()
    finally:
        sb.stop()
    assert job_threads() == []


def poll_http(sb, url: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while (job := sb.get(url).json())["status"] not in DONE and time.monotonic() < deadline:
        time.sleep(0.1)
    return job


def test_a_job_a_killed_server_left_running_runs_again(on, app):
    job = poll(on, on.post("/api/notes/export").headers["Location"])
    on.patch("/sandbox/modules/jobs", json={"enabled": False})
    # What a kill -9 mid-job leaves: the row says running, and no message is left to run it.
    conn = sqlite3.connect(Path(app.instance_path) / "sandbox.db")
    with conn:
        conn.execute("update jobs set status = 'running' where id = ?", (job["id"],))
    conn.close()
    on.patch("/sandbox/modules/jobs", json={"enabled": True})
    again = poll(on, f"/jobs/{job['id']}")
    assert again["status"] == "done" and again["attempts"] == 2


@pytest.mark.parametrize(
    "body",
    [{"fail_times": -1}, {"fail_times": 11}, {"fail_times": 1.5}, {"fail_times": "2"}, {"x": 1}],
)
def test_bad_options_are_a_422_naming_the_field(on, body):
    problem = is_problem(on.post("/api/notes/export", json=body), 422)
    assert {e["field"] for e in problem["errors"]} == set(body)
    assert on.get("/jobs").json["jobs"] == []


def test_bad_requests_are_clear_problems(on, client):
    is_problem(on.post("/api/notes/export", data="fail_times=2"), 415)
    is_problem(on.post("/api/notes/export", data="{", content_type="application/json"), 400)
    is_problem(on.get("/jobs/999"), 404)
    is_problem(on.get(f"/jobs/{2**64}"), 404)
    assert on.post("/api/notes/export", json={"fail_times": 2.0}).status_code == 202  # 2.0 is 2


def test_a_failure_asked_for_with_the_module_off_is_a_409_that_says_to_switch_it_on(client):
    problem = is_problem(client.post("/api/notes/export", json={"fail_times": 1}), 409)
    assert 'sb.enable("jobs")' in problem["detail"]


def test_a_reset_forgets_the_jobs_and_their_archives(on, app):
    job = poll(on, on.post("/api/notes/export").headers["Location"])
    archive = Path(app.instance_path) / job["result"]["file"]
    assert archive.is_file()
    on.post("/sandbox/reset")
    on.patch("/sandbox/modules/jobs", json={"enabled": True})
    assert on.get("/jobs").json["jobs"] == [] and not archive.exists()


def test_a_reset_while_a_job_runs_leaves_nothing_behind(on, app):
    generate(on, 300)
    url = on.post("/api/notes/export").headers["Location"]
    while on.get(url).json["status"] != "running":
        time.sleep(0.02)
    on.post("/sandbox/reset")  # the job's row goes, and the module is off again: it stops
    assert job_threads() == []
    on.patch("/sandbox/modules/jobs", json={"enabled": True})
    fresh = poll(on, on.post("/api/notes/export").headers["Location"])
    assert fresh["status"] == "done" and [j["id"] for j in on.get("/jobs").json["jobs"]] == [
        fresh["id"]
    ]
    deadline = time.monotonic() + 10
    while on.get("/jobs/queue").json["scheduled"] + on.get("/jobs/queue").json["waiting"]:
        assert time.monotonic() < deadline  # the old job's message ran and did nothing
        time.sleep(0.1)


def test_each_workspace_has_its_own_jobs(room, ada, bob):
    try:
        for student in (ada, bob):
            student.switch("jobs", {"enabled": True})
        answer = ada.request("POST", "api/notes/export")
        assert answer.status_code == 202
        job_url = answer.headers["Location"]
        assert job_url.startswith(f"/w/{ada.workspace}/jobs/")
        deadline = time.monotonic() + 30
        while (job := ada.get(job_url.split("/", 3)[3]).json())["status"] not in DONE:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert job["result"]["file"].startswith(f"outbox/{ada.workspace}/")
        assert bob.get("jobs").json()["jobs"] == []
        is_problem(bob.get(f"jobs/{job['id']}"), 404)
    finally:
        shutdown(room.app)
    assert job_threads() == []


def test_the_queue_can_live_in_redis_for_several_servers(tmp_path):
    kind, options = backend(None, str(tmp_path))
    assert kind.__name__ == "SqliteHuey" and options == {"filename": str(tmp_path / "jobs.db")}
    kind, options = backend("redis://queue.example:6379/0", str(tmp_path))
    assert kind.__name__ == "RedisHuey" and options == {"url": "redis://queue.example:6379/0"}
    with pytest.raises(ValueError, match="redis://host:6379/0"):
        backend("amqp://nope", str(tmp_path))


def test_a_queue_url_that_is_not_a_queue_stops_the_start(tmp_path):
    with pytest.raises(ValueError, match="SANDBOX_JOBS_URL='ftp://x'"):
        create_app({"SANDBOX_DATA_DIR": str(tmp_path / "d"), "SANDBOX_JOBS_URL": "ftp://x"})


def test_every_challenge_can_be_solved(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    client = app.test_client()
    try:
        client.post("/api/notes/export")  # off: inside the request
        client.patch("/sandbox/modules/jobs", json={"enabled": True})
        poll(client, client.post("/api/notes/export").headers["Location"])
        poll(client, client.post("/api/notes/export", json={"fail_times": 1}).headers["Location"])
        assert {"jobs.polled", "jobs.retried", "jobs.off_the_request"} <= solved(client)
    finally:
        shutdown(app)


def test_a_queued_job_alone_solves_no_challenge(on):
    # 202 without polling to done; a job on a thread without an export inside a request.
    answer = on.post("/api/notes/export")
    deadline = time.monotonic() + 30
    while json.loads(on.get("/jobs").data)["jobs"][0]["status"] not in DONE:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert solved(on) == set()
    on.get(answer.headers["Location"])
    assert solved(on) == {"jobs.polled"}
