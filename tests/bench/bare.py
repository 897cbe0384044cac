"""The apps the sandbox is compared with, and the servers it is compared under.

Run: python tests/bench/bare.py PORT APP SERVER
APP is one of:
- "sandbox": the sandbox itself, records on, a fresh data dir in SANDBOX_DATA_DIR;
- "flask": a bare Flask app answering /get with the same JSON as the sandbox's /server/get;
- "notes": a bare Flask app reading notes from sandbox.db in SANDBOX_DATA_DIR through one
  open connection per thread: the least a Python notes API can do, so the floor under
  the sandbox when it is compared with json-server;
- "httpbin": httpbin itself (pip install httpbin into a scratch environment; it pins an
  old greenlet that playwright's contradicts, so it is not in requirements.txt).
SERVER is "waitress" (the sandbox's default, with its settings: 64 threads, lookahead 1,
idle threads woken last-idle-first: sandbox/workers.py) or "granian" (a Rust HTTP server
that runs WSGI apps on Windows, macOS and Linux; pip install granian), given the same 64
threads for blocking work.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Measure the checkout this file is in, not whichever copy of the sandbox is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flask import Flask, jsonify, request  # noqa: E402

THREADS = 64


def bare_flask() -> Flask:
    """Return a Flask app that echoes a GET the way /server/get does, and nothing more."""
    app = Flask("bare")

    @app.get("/get")
    def get():
        return jsonify(
            args=request.args.to_dict(flat=True),
            headers=dict(request.headers),
            origin=request.remote_addr,
            url=request.url,
        )

    @app.get("/sandbox/health")
    def health():
        return {"status": "ok"}

    return app


def bare_notes() -> Flask:
    """Return a Flask app that serves /notes/<id> and /notes?limit= from sandbox.db, and no more."""
    import json
    import sqlite3
    import threading

    app = Flask("notes")
    path = Path(os.environ["SANDBOX_DATA_DIR"]) / "sandbox.db"
    columns = "id, owner, title, body, tags, created_at, updated_at"

    def note(row: sqlite3.Row) -> dict:
        return {**dict(row), "tags": json.loads(row["tags"])}

    opened = threading.local()

    def query(sql: str, *params) -> list[sqlite3.Row]:
        if not hasattr(opened, "conn"):  # opened once per thread, then kept
            opened.conn = sqlite3.connect(path)
            opened.conn.row_factory = sqlite3.Row
        return opened.conn.execute(sql, params).fetchall()

    @app.get("/notes/<int:note_id>")
    def one(note_id: int):
        rows = query(f"select {columns} from notes where id = ?", note_id)
        return note(rows[0]) if rows else ({"error": "not found"}, 404)

    @app.get("/notes")
    def page():
        limit = request.args.get("limit", 20, type=int)
        return jsonify([note(r) for r in query(f"select {columns} from notes limit ?", limit)])

    @app.get("/sandbox/health")
    def health():
        return {"status": "ok"}

    return app


def httpbin_app() -> Flask:
    """Return httpbin's app, with the health path the benchmarks poll before they start."""
    from httpbin import app

    app.add_url_rule("/sandbox/health", "health", lambda: {"status": "ok"})
    return app


def sandbox_app() -> Flask:
    """Return the sandbox, as python app.py makes it."""
    from sandbox import create_app

    return create_app({"SANDBOX_DATA_DIR": os.environ["SANDBOX_DATA_DIR"]})


def app():
    """Return the app named by BENCH_APP (granian imports this module and calls it)."""
    return {
        "sandbox": sandbox_app,
        "flask": bare_flask,
        "notes": bare_notes,
        "httpbin": httpbin_app,
    }[os.environ["BENCH_APP"]]()


if __name__ == "__main__":
    port, which, server = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ["BENCH_APP"] = which
    if server == "waitress":
        from sandbox.workers import waitress_server

        waitress_server(
            app(),
            host="127.0.0.1",
            port=int(port),
            threads=THREADS,
            channel_request_lookahead=1,
        ).run()
    else:
        from granian import Granian
        from granian.constants import Interfaces

        Granian(
            "bare:app",
            factory=True,
            working_dir=Path(__file__).resolve().parent,
            address="127.0.0.1",
            port=int(port),
            interface=Interfaces.WSGI,
            blocking_threads=THREADS,
            log_enabled=False,
        ).serve()
