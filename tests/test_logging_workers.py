"""The logging module with several worker processes (``python app.py --workers N``).

Every worker writes the one log file, and a learner's request may land on any worker: the
file must rotate without losing or doubling a line, and the viewer of each worker must list
the lines of all of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from helpers import ROOT

# One worker process: it serves requests (through Flask's test client, as fast as it can)
# with the logging module on, and prints the record id of each.
WORKER = textwrap.dedent(
    """
    import sys
    from sandbox import create_app
    data_dir, log_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    app = create_app({
        "SANDBOX_DATA_DIR": data_dir, "SANDBOX_WORKERS": 2, "SANDBOX_LOG_FILE": log_file,
        "SANDBOX_LOG_FILE_BYTES": 20_000, "SANDBOX_LOG_FILE_KEEP": 100,
    })
    client = app.test_client()
    client.patch("/sandbox/modules/logging", json={"enabled": True})
    print("ready", flush=True)
    sys.stdin.readline()  # both start writing at once
    for n in range(count):
        print(client.get(f"/server/get?n={n}").headers["X-Sandbox-Trace"], flush=True)
    """
)


def test_two_worker_processes_share_one_log_file_and_its_rotation_loses_no_line(tmp_path):
    log_file = tmp_path / "sandbox.log"
    args = [str(tmp_path / "data"), str(log_file), "300"]
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
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    ids = []
    for worker in workers:
        out, _ = worker.communicate(timeout=120)
        assert worker.returncode == 0
        ids += out.split()
    assert len(set(ids)) == 600

    files = sorted(tmp_path.glob("sandbox.log*"))
    assert len(files) >= 5, files  # it rotated, several times
    written = [
        json.loads(text)  # every line whole: valid JSON
        for path in files
        for text in path.read_text(encoding="utf-8").splitlines()
    ]
    served = [line["record_id"] for line in written if line["message"].startswith("GET /server")]
    assert sorted(served) == sorted(ids)  # each request's line once: none lost, none twice
