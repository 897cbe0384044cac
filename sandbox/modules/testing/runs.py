"""Test runs: what a pytest session reported, set beside what the server saw it do.

A run is one session's report (``POST /testing/runs``): each test's id and outcome. The
server trusts the outcomes (it cannot rerun your tests) but not the claim that a test
tested it: each reported test is matched with the marked requests it sent in that session
(see marks.py), and those requests are claimed by the run, so a request counts once.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from sandbox import db
from sandbox.errors import NotFound
from sandbox.validation import Body, NotBlank
from sandbox.validation import parse as parse_body

from .marks import ID_MAX, SESSION_MAX

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
TESTS_MAX = 2000  # tests in one report: a course's suite, not a monorepo's
SOURCE_MAX = 100
DURATION_MAX = 86_400_000  # a day, in milliseconds
RUNS_KEPT = 100  # per workspace: older runs (and the requests they claimed) are dropped
NUMBER_MAX = 2**31 - 1  # run numbers past it are a 404 (and SQLite refuses past 2**63)


# What a run report is: checked by these models, and described by them in the document.
TestId = Annotated[str, Field(max_length=ID_MAX), NotBlank(strip=True)]


class ReportedTest(Body):
    """One test of a run: its pytest node id, its outcome and how long it took."""

    id: TestId = Field(description="The test's pytest node id, as sent in X-Sandbox-Test")
    outcome: Literal[OUTCOMES] = Field(description="What pytest said")  # type: ignore[valid-type]
    duration_ms: float | None = Field(
        None, ge=0, le=DURATION_MAX, allow_inf_nan=False, description="Milliseconds it took"
    )


class RunReport(Body):
    """What a pytest session ran (the sandbox.testing plugin sends it at the session's end)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "tests": [{"id": "tests/test_notes.py::test_create", "outcome": "passed"}],
                    "source": "curl",
                }
            ]
        }
    )

    tests: list[ReportedTest] = Field(min_length=1, max_length=TESTS_MAX)
    session: Annotated[str, Field(max_length=SESSION_MAX), NotBlank(strip=True)] | None = Field(
        None, description="The pytest session, as sent in X-Sandbox-Test-Session"
    )
    source: Annotated[str, Field(max_length=SOURCE_MAX), NotBlank(strip=True)] | None = Field(
        None, description="What ran the tests"
    )


def parse(data: dict[str, Any]) -> dict[str, Any]:
    """Check a run report; raise one 422 that lists every wrong field."""
    report = parse_body(RunReport, data)
    # The same id twice (a rerun plugin): the last outcome is the test's outcome.
    by_id = {test.id: test.model_dump() for test in report.tests}
    return {
        "tests": list(by_id.values()),
        "session": report.session,
        "source": report.source or "unnamed",
    }


def save(conn: sqlite3.Connection, workspace: str, report: dict[str, Any]) -> dict[str, Any]:
    """Store a run and claim the marked requests of its tests; return the run as shown."""
    with conn:  # one transaction: the number, the results and the claims, or none of them
        conn.execute("BEGIN IMMEDIATE")
        number = conn.execute(
            "select coalesce(max(number), 0) + 1 from testing_runs where workspace = ?",
            (workspace,),
        ).fetchone()[0]
        conn.execute(
            "insert into testing_runs (workspace, number, reported_at, source) values (?, ?, ?, ?)",
            (workspace, number, db.now(), report["source"]),
        )
        for test in report["tests"]:
            # The session's requests of this test not claimed by an earlier run.
            mine = (
                "workspace = ? and test = ? and run is null and session is ?",
                (workspace, test["id"], report["session"]),
            )
            sent, with_bug = conn.execute(
                f"select count(*), coalesce(sum(bug_on), 0) from testing_requests where {mine[0]}",
                mine[1],
            ).fetchone()
            conn.execute(f"update testing_requests set run = ? where {mine[0]}", (number, *mine[1]))
            duration = test["duration_ms"]
            conn.execute(
                "insert into testing_results (workspace, run, test, outcome, duration_ms, "
                "requests, bug_requests) values (?, ?, ?, ?, ?, ?, ?)",
                (
                    workspace,
                    number,
                    test["id"],
                    test["outcome"],
                    duration,
                    sent,
                    with_bug,
                ),
            )
        _forget_old_runs(conn, workspace, number - RUNS_KEPT)
    return get(conn, workspace, number)


def _forget_old_runs(conn: sqlite3.Connection, workspace: str, up_to: int) -> None:
    """Drop the runs numbered ``up_to`` and below, so a busy workspace's tables stay small."""
    if up_to < 1:
        return
    for table, column in (
        ("testing_requests", "run"),
        ("testing_results", "run"),
        ("testing_runs", "number"),
    ):
        sql = f"delete from {table} where workspace = ? and {column} <= ?"
        conn.execute(sql, (workspace, up_to))


def caught_bugs(conn: sqlite3.Connection, workspace: str, number: int) -> list[str]:
    """Return the tests of run ``number`` that caught a planted bug.

    Caught: in this run the test passed, having sent requests while no bug was on; in an
    earlier run the same test failed, having sent every one of its requests while a bug
    was on. A failing test first, then the fix (the bug switched off), then green.
    """
    rows = conn.execute(
        "select now.test from testing_results now where now.workspace = ? and now.run = ? "
        "and now.outcome = 'passed' and now.requests > 0 and now.bug_requests = 0 "
        "and exists (select 1 from testing_results before where before.workspace = now.workspace "
        "and before.test = now.test and before.run < now.run and before.outcome = 'failed' "
        "and before.requests > 0 and before.bug_requests = before.requests) order by now.test",
        (workspace, number),
    ).fetchall()
    return [row[0] for row in rows]


def summary(conn: sqlite3.Connection, workspace: str, number: int) -> dict[str, Any]:
    """Return one run's counts: outcomes, and how many tests sent requests."""
    run = conn.execute(
        "select number, reported_at, source from testing_runs where workspace = ? and number = ?",
        (workspace, number),
    ).fetchone()
    if run is None:
        raise NotFound(f"There is no run {number}. GET /testing/runs lists the runs reported.")
    counts = dict.fromkeys(OUTCOMES, 0)
    sent = passed_sent = 0
    for outcome, requests, n in conn.execute(
        "select outcome, requests > 0, count(*) from testing_results where workspace = ? "
        "and run = ? group by outcome, requests > 0",
        (workspace, number),
    ):
        counts[outcome] += n
        sent += n if requests else 0
        passed_sent += n if requests and outcome == "passed" else 0
    return {
        "number": run["number"],
        "reported_at": run["reported_at"],
        "source": run["source"],
        "tests": sum(counts.values()),
        "outcomes": counts,
        "sent_requests": sent,
        "passed_with_requests": passed_sent,
    }


def get(conn: sqlite3.Connection, workspace: str, number: int) -> dict[str, Any]:
    """Return one run: its counts, each test, and the records of the requests each sent."""
    run = summary(conn, workspace, number)
    requests: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(
        "select test, record_id, method, path, status from testing_requests "
        "where workspace = ? and run = ? order by id",
        (workspace, number),
    ):
        requests.setdefault(row["test"], []).append(
            {k: row[k] for k in ("record_id", "method", "path", "status")}
        )
    run["results"] = [
        {
            "test": row["test"],
            "outcome": row["outcome"],
            "duration_ms": row["duration_ms"],
            "requests": row["requests"],
            "bug_on": bool(row["bug_requests"]),
            "sent": requests.get(row["test"], [])[:20],  # the first few: the records have all
        }
        for row in conn.execute(
            "select * from testing_results where workspace = ? and run = ? order by rowid",
            (workspace, number),
        )
    ]
    run["caught_bugs"] = caught_bugs(conn, workspace, number)
    return run


def listing(conn: sqlite3.Connection, workspace: str, limit: int = 50) -> list[dict[str, Any]]:
    """Return the newest runs' counts, newest first."""
    numbers = conn.execute(
        "select number from testing_runs where workspace = ? order by number desc limit ?",
        (workspace, limit),
    ).fetchall()
    return [summary(conn, workspace, row[0]) for row in numbers]


def reset(conn: sqlite3.Connection, workspace: str) -> None:
    """Forget the workspace's runs and marked requests (inside the reset's transaction)."""
    for table in ("testing_results", "testing_runs", "testing_requests"):
        conn.execute(f"delete from {table} where workspace = ?", (workspace,))
