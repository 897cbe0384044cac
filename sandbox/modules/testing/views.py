"""The testing module's routes: receive a pytest session's report, list the runs, a page.

The pytest plugin (``sandbox.testing``, its code in pytest_plugin.py here) posts its report at
the end of a session; any other test runner may post the same JSON. Reading runs never changes them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, url_for

from sandbox import db
from sandbox.errors import NotFound
from sandbox.record import event
from sandbox.validation import json_body

from . import runs

# template_folder: the module's page lives in its own folder, with the rest of it.
bp = Blueprint("testing", __name__, url_prefix="/testing", template_folder="templates")


@bp.post("/runs")
def report_run() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Keep a session's outcomes, matched with the marked requests each test sent."""
    report = runs.parse(json_body())
    conn = db.get_db().conn
    run = runs.save(conn, db.workspace(), report)
    caught = run["caught_bugs"]
    event(
        "testing",
        f"run {run['number']} reported: {run['tests']} tests, {run['outcomes']['passed']} "
        f"passed, {run['sent_requests']} of them sent requests to this sandbox"
        + (f"; caught a planted bug: {', '.join(caught)}" if caught else ""),
        run=run["number"],
        tests=run["tests"],
        passed_with_requests=run["passed_with_requests"],
        caught_bugs=caught,
    )
    location = url_for("testing.get_run", number=run["number"])
    return run, 201, {"Location": location}


@bp.get("/runs")
def list_runs() -> dict[str, Any]:
    """The runs reported to this workspace, newest first (the last 50)."""
    return {"runs": runs.listing(db.get_db().conn, db.workspace())}


@bp.get("/runs/<int:number>")
def get_run(number: int) -> dict[str, Any]:
    """One run: each test's outcome and the requests the server saw it send."""
    if number > runs.NUMBER_MAX:  # SQLite refuses integers past 2**63: no such run, not a 500
        raise NotFound(f"There is no run {number}. GET /testing/runs lists the runs reported.")
    return runs.get(db.get_db().conn, db.workspace(), number)


@bp.get("/")
def page() -> str:
    """Show the runs, newest first, each test with its outcome and its requests."""
    conn, workspace = db.get_db().conn, db.workspace()
    shown = [runs.get(conn, workspace, r["number"]) for r in runs.listing(conn, workspace, 10)]
    return render_template("testing_runs.html", runs=shown)
