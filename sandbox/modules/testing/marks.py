"""Marked requests: what the server saw of each test, from the header the test sent.

The pytest plugin (``sandbox.testing``, its code in pytest_plugin.py here) adds two headers to
every request a test sends through its ``sandbox`` fixture: ``X-Sandbox-Test`` names the
test (its pytest node id) and ``X-Sandbox-Test-Session`` the pytest session it ran in. A
request without them is left alone: this module changes nothing for anyone who is not
testing.

For a marked request, the module notes in its record which test sent it (an event, so the
inspector shows it), and keeps a row: the test, the record's id, the status, and whether a
planted bug of the logging module was on at that moment. When the session reports its
outcomes (``POST /testing/runs``), those rows are what the server checks them against: a
test said to have tested the sandbox must have sent it requests.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Response, request

from sandbox import db
from sandbox.record import Record

TEST_HEADER = "X-Sandbox-Test"
SESSION_HEADER = "X-Sandbox-Test-Session"
# Node ids of parametrised tests can be long; a header is not a place for a novel.
ID_MAX = 500
SESSION_MAX = 100


def planted_bug_on(conn: sqlite3.Connection, workspace: str) -> bool:
    """Return whether the logging module has a bug planted and on in ``workspace``.

    The logging module is another folder: without it (a sandbox built without it), no bug
    is ever on. Only whether one is on is kept, never which: naming it is the logging
    module's challenge.
    """
    try:
        from sandbox.modules.logging.bugs import planted_bug
    except ImportError:
        return False
    return planted_bug(conn, workspace) is not None


def marks() -> tuple[str, str | None] | None:
    """Return the (test, session) this request is marked with, or None if it is not."""
    test = request.headers.get(TEST_HEADER, "").strip()
    if not test:
        return None
    session = request.headers.get(SESSION_HEADER, "").strip()[:SESSION_MAX] or None
    return test[:ID_MAX], session


def collect(record: Record | None, response: Response) -> None:
    """Keep a marked request as a row, and say in its record which test sent it."""
    marked = marks()
    if marked is None:
        return  # the common case: one header lookup, nothing else
    test, session = marked
    path = record.path if record is not None else request.path
    workspace = db.workspace()
    # Our own connection, untraced: the bookkeeping is not part of the learner's request,
    # and its SQL would only clutter the record the learner reads.
    conn = db.connect(db.database_path(), traced=False)
    try:
        bug_on = planted_bug_on(conn, workspace)
        with conn:
            conn.execute(
                "insert into testing_requests (workspace, test, session, record_id, method, "
                "path, status, bug_on, at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    workspace,
                    test,
                    session,
                    record.id if record is not None else None,
                    request.method,
                    path,
                    response.status_code,
                    int(bug_on),
                    db.now(),
                ),
            )
    except sqlite3.Error as error:  # bookkeeping must never break the request it watches
        if record is not None:
            record.event("testing", f"could not keep this marked request: {error}")
        return
    finally:
        conn.close()
    if record is not None:
        record.event("testing", f"sent by the test {test}", test=test, session=session)


def after_request(record: Record | None, response: Response) -> Any:
    """The module's after hook: collect marked requests, change no answer."""
    collect(record, response)
    return None
