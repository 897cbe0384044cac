"""Indexing: find rows without reading them all

A table of 200,000 orders to search, and the indexes that make searching it fast: make
one from a list of columns, see the query plan of every SELECT in its record change from
SCAN (every row read) to SEARCH (straight to the rows), and time both. On, the sandbox's
own indexes keep the notes list fast; off, they are dropped and you can measure why they
are there.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from sandbox import classroom, db
from sandbox.record import event
from sandbox.registry import Module

from . import indexes, orders
from .challenges import CHALLENGES
from .openapi import openapi
from .plans import annotate, planner
from .views import bp, open_bp


def on_toggle(conn: Any, workspace: str, enabled: bool) -> None:
    """Switched off: drop your indexes, and (on your own machine) the sandbox's. On: back.

    In a class every student's notes are in one table with one set of indexes: a student
    switching indexing off must not slow everybody's notes down. So there, off drops only
    that student's own indexes and stops the plans in their records, and says so.
    """
    schema = indexes.schema_of(current_app)
    if not enabled:
        dropped = indexes.drop_all(conn, workspace)
        if classroom.is_class_mode():
            event(
                "indexing",
                "indexing off: your indexes dropped"
                + (f" ({', '.join(dropped)})" if dropped else "")
                + " and no more plans in your records. The sandbox's own indexes stay: in "
                "a class they serve every student's notes, one table for the whole class.",
                dropped=dropped,
            )
            return
        dropped += indexes.drop_sandbox_indexes(conn, schema)
        event(
            "indexing",
            f"indexing off: indexes dropped ({', '.join(dropped) or 'none left'}). Every "
            "query now reads its whole table: time GET /api/notes to see what they did.",
            dropped=dropped,
        )
    elif not classroom.is_class_mode():
        made = indexes.create_sandbox_indexes(conn, schema)
        event("indexing", f"indexing on: the sandbox's indexes made again ({', '.join(made)})")


def reset(conn: Any, workspace: str) -> None:
    """Delete the workspace's orders and indexes; a reset switches indexing on: indexes back."""
    orders.clear(conn, workspace)
    indexes.drop_all(conn, workspace)
    if not classroom.is_class_mode():
        indexes.create_sandbox_indexes(conn, indexes.schema_of(current_app))


def restored(conn: Any, workspace: str) -> None:
    """After a snapshot's restore: the indexes its rows list, and the sandbox's as switched."""
    indexes.match_rows(conn, workspace)
    if classroom.is_class_mode():
        return  # the sandbox's indexes serve the whole class: they always stay
    row = conn.execute(
        "select enabled from module_state where workspace = ? and name = 'indexing'", [workspace]
    ).fetchone()
    schema = indexes.schema_of(current_app)
    if row is not None and not row[0]:
        indexes.drop_sandbox_indexes(conn, schema)
    else:
        indexes.create_sandbox_indexes(conn, schema)


def reconcile(app: Flask) -> None:
    """Make the database agree with the switch: off on your own machine means no indexes.

    Every start runs the schema files again, and their CREATE INDEX IF NOT EXISTS makes
    the sandbox's indexes whatever the switch says. So, if it says off, they go again.
    In a class they always stay (see on_toggle).
    """
    if classroom.is_class_mode(app):
        return
    conn = db.connect(db.database_path(app), traced=False)
    try:
        row = conn.execute(
            "select enabled from module_state where workspace = ? and name = 'indexing'",
            [app.config["SANDBOX_WORKSPACE"]],
        ).fetchone()
        if row is not None and not row[0]:
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                indexes.drop_sandbox_indexes(conn, indexes.schema_of(app))
    finally:
        conn.close()


def init_app(app: Flask) -> None:
    """Keep the schema's text, and reconcile the indexes with the switch at start.

    Every module's tables (and their indexes) exist by now: the registry creates them all
    before it calls any module's init_app.
    """
    app.extensions["sandbox.indexing.schema"] = indexes.schema_of(app)
    reconcile(app)


def stop(app: Flask) -> None:
    """Close the connections kept for asking plans."""
    planner(app).close()


module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    works_when_off=(open_bp,),
    challenges=CHALLENGES,
    enabled_by_default=True,  # the sandbox's own speed relies on its indexes
    after_request=annotate,
    on_toggle=on_toggle,
    reset=reset,
    restored=restored,
    init_app=init_app,
    stop=stop,
    openapi=openapi,
    settings={
        # Orders one workspace may hold: each is paid for by every index on the table, and
        # in a class the table holds every student's.
        "SANDBOX_INDEXING_MAX_ORDERS": 300_000,
    },
    # Index names carry their maker's workspace: a hand-out's student makes their own.
    not_handed_out=("indexing_indexes",),
)
