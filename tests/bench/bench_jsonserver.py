"""The notes API against json-server, the tool a learner picks for "a quick REST API".

Run: python tests/bench/bench_jsonserver.py [seconds per measurement, default 2]
Installs json-server 0.17 (Node) with npm into a scratch folder (once; BENCH_SCRATCH
names it, default ~/.cache/sandbox-bench), gives it and the sandbox the same 200
notes, and measures both in turn, in one run: GET one note and GET a page of 20, on
8 keep-alive connections, requests per second and each server's CPU time per request.
A third column serves the same notes from the same SQLite file with a bare Flask app under
the same server (waitress, tests/bench/bare.py "notes"): the least a Python notes API can
cost, so the floor under the sandbox's ratio on this machine.
Without npm it says so and measures nothing (install Node.js to compare).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_speed import served  # noqa: E402
from tests.bench.common import compare, free_port, sandbox_process  # noqa: E402

NOTES = 200
VERSION = "0.17.4"  # the last json-server with the classic CLI and --quiet
GOAL = 1.0


def install(scratch: Path) -> Path:
    """Install json-server into ``scratch`` (once); return its command-line script."""
    script = scratch / "node_modules" / "json-server" / "lib" / "cli" / "bin.js"
    if not script.is_file():
        scratch.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(scratch),
                f"json-server@{VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return script


def notes() -> list[dict]:
    return [
        {
            "id": n,
            "owner": "guest",
            "title": f"Note {n}",
            "body": "body " * 20,
            "tags": ["bench"],
            "created_at": f"2026-01-01T00:00:{n % 60:02d}.000+00:00",
            "updated_at": f"2026-01-01T00:00:{n % 60:02d}.000+00:00",
        }
        for n in range(1, NOTES + 1)
    ]


def seed_sandbox(data_dir: Path, rows: list[dict]) -> None:
    from sandbox import create_app

    create_app({"SANDBOX_DATA_DIR": str(data_dir)})
    conn = sqlite3.connect(data_dir / "sandbox.db")
    with conn:
        conn.execute("delete from notes")
        conn.executemany(
            "insert into notes (id, workspace, owner, title, body, tags, created_at, updated_at) "
            "values (?, 'local', ?, ?, ?, ?, ?, ?)",
            [
                (
                    r["id"],
                    r["owner"],
                    r["title"],
                    r["body"],
                    json.dumps(r["tags"]),
                    r["created_at"],
                    r["updated_at"],
                )
                for r in rows
            ],
        )
    conn.close()


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    if shutil.which("npm") is None or shutil.which("node") is None:
        print("npm or node not found: the json-server rows are left out (install Node.js).")
        return
    scratch = Path(os.environ.get("BENCH_SCRATCH", Path.home() / ".cache" / "sandbox-bench"))
    script = install(scratch)
    rows = notes()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "db.json").write_text(json.dumps({"notes": rows}), encoding="utf-8")
        seed_sandbox(folder / "data", rows)
        port = free_port()
        node = subprocess.Popen(
            ["node", str(script), "--port", str(port), "--quiet", str(folder / "db.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_json_server(port)
            with (
                sandbox_process(folder / "data") as (ours, process),
                served("notes", "waitress", folder / "data") as (bare, bare_process),
            ):
                servers = {
                    "sandbox": (ours, process.pid),
                    "bare Flask": (bare, bare_process.pid),
                    "json-server": (port, node.pid),
                }
                print(
                    f"{'request':<18}{'sandbox':>9}{'bare Flask':>12}{'json-server':>13}"
                    f"{'ratio':>7}{'floor':>7}   CPU per request: sandbox, bare Flask, json-server"
                )
                for label, (our_path, their_path) in {
                    "GET one note": ("/api/notes/5", "/notes/5"),
                    "GET a page of 20": ("/api/notes?limit=20", "/notes?_page=1&_limit=20"),
                }.items():
                    paths = {
                        "sandbox": our_path,
                        "bare Flask": "/notes/5" if "one" in label else "/notes?limit=20",
                        "json-server": their_path,
                    }
                    result = {}
                    for who, (port_, pid) in servers.items():
                        result.update(
                            compare(
                                {who: port_},
                                "GET",
                                paths[who],
                                rounds=3,
                                seconds=seconds,
                                pids={who: pid},
                                concurrency=8,
                            )
                        )
                    theirs = result["json-server"]
                    print(
                        f"{label:<18}{result['sandbox']:9.0f}{result['bare Flask']:12.0f}"
                        f"{theirs:13.0f}{result['sandbox'] / theirs:7.2f}"
                        f"{result['bare Flask'] / theirs:7.2f}   "
                        + ", ".join(f"{result[w + ' cpu_us']:.0f}" for w in servers)
                        + " us"
                    )
                print(
                    f"ratio: sandbox / json-server (goal >= {GOAL}); floor: bare Flask / "
                    "json-server, what any Python app under waitress reaches here"
                )
        finally:
            node.terminate()
            node.wait(timeout=10)


def wait_until_json_server(port: int) -> None:
    import http.client
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/notes/1")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"json-server did not answer on port {port}")


if __name__ == "__main__":
    main()
