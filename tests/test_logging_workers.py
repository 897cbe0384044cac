"""The logging module with several worker processes (``python app.py --workers N``).

Every worker writes the one log file, and a learner's request may land on any worker: the
file must rotate without losing or doubling a line, and the viewer of each worker must list
the lines of all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT

from sandbox import create_app
from sandbox.modules.logging import logs
from sandbox.registry import shutdown

# One worker process: it serves requests (through Flask's test client, as fast as it can)
# with the logging module on, and prints the record id of each. The file rotates every few
# lines, so both processes rotate it at once again and again (the standard library's
# RotatingFileHandler loses lines here every time), and keeps every old file to count them.
WORKER = textwrap.dedent(
    """
    import sys
    from sandbox import create_app
    data_dir, log_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = create_app({
        "SANDBOX_DATA_DIR": data_dir, "SANDBOX_WORKERS": 2, "SANDBOX_LOG_FILE": log_file,
        "SANDBOX_LOG_FILE_BYTES": 1_000, "SANDBOX_LOG_FILE_KEEP": 1_000,
    })
    client = app.test_client()
    client.patch("/sandbox/modules/logging", json={"enabled": True})
    warm_up = client.get("/server/get").headers["X-Sandbox-Trace"]  # the first is slow
    print("ready", warm_up, flush=True)
    sys.stdin.readline()  # both start writing at once
    for n in range(count):
        print(client.get(f"/server/get?n={n}").headers["X-Sandbox-Trace"], flush=True)
    """
)


def test_two_worker_processes_share_one_log_file_and_its_rotation_loses_no_line(tmp_path):
    log_file = tmp_path / "sandbox.log"
    args = [str(tmp_path / "data"), str(log_file), "150"]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ids = []
    for worker in workers:
        ready, warm_up = worker.stdout.readline().split()
        assert ready == "ready"
        ids.append(warm_up)
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        ids += out.split()
    assert len(set(ids)) == 302

    files = sorted(tmp_path.glob("sandbox.log*"))
    assert len(files) >= 5, files  # it rotated, several times
    written = [
        json.loads(text)  # every line whole: valid JSON
        for path in files
        for text in path.read_text(encoding="utf-8").splitlines()
    ]
    served = [line["record_id"] for line in written if line["message"].startswith("GET /server")]
    assert sorted(served) == sorted(ids)  # each request's line once: none lost, none twice


@pytest.fixture
def workers(tmp_path):
    """Two apps on one data dir, each with its own memory: two worker processes."""
    config = {"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_WORKERS": 2}
    apps = create_app(config), create_app(config)
    apps[0].test_client().patch("/sandbox/modules/logging", json={"enabled": True})
    yield apps
    for app in apps:
        shutdown(app)


def _lines(app, **filters) -> list[dict]:
    answer = app.test_client().get("/logging/lines", query_string={"limit": 1000, **filters})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.json["lines"]


def test_a_line_logged_by_one_worker_is_listed_through_the_other_naming_its_worker(workers):
    first, second = workers
    last = second.test_client().get("/logging/lines").json["last"]
    trace = first.test_client().get("/server/get").headers["X-Sandbox-Trace"]

    # The live tail of the other worker: the lines after the last one it had shown.
    (line,) = _lines(second, record=trace, after=last)
    assert line["message"] == "GET /server/get -> 200"
    assert line["worker"] == os.getpid()  # both apps are in this process: its id
    assert line["seq"] > last
    # The same line, under the same number, through either worker: after= means the same.
    assert _lines(first, record=trace) == [line]
    with first.app_context():  # the notebook's sb.logs() reads what the viewer reads
        assert line in logs.read(first)


def test_a_reset_through_one_worker_empties_the_others_viewer(workers):
    first, second = workers
    first.test_client().get("/server/get")
    assert _lines(second)
    assert first.test_client().post("/sandbox/reset").status_code == 200
    assert not [line for line in _lines(second) if line.get("module") == "server"]


def test_one_worker_keeps_its_lines_in_memory_only(app, client):
    client.patch("/sandbox/modules/logging", json={"enabled": True})
    client.get("/server/get")
    assert "sandbox.log_lines" not in app.extensions
    assert not (Path(app.instance_path) / "logs.db").exists()
    assert "worker" not in _lines(app)[-1]
