"""The database module's routes: the schema, and an SQL console page for the browser."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, make_response, render_template

from sandbox.classroom import is_class_mode
from sandbox.db import get_db, workspace
from sandbox.errors import prefers_html
from sandbox.registry import registry

# template_folder: the module's pages live in its own folder, with the rest of it.
bp = Blueprint("database", __name__, url_prefix="/database", template_folder="templates")


@bp.get("/schema")
def schema() -> Any:
    """Show every table with its columns, indexes and row count, and the schema's SQL."""
    db = get_db()
    tables = []
    for table in db.tables:
        has_workspace = "workspace" in table.columns_dict
        if is_class_mode() and not has_workspace:
            continue  # the class's own tables (its students, its code): not a student's business
        # Rows of this workspace only: in a class, the others' rows are not yours to count.
        rows = (
            db.execute(
                f"select count(*) from [{table.name}] where workspace = ?", [workspace()]
            ).fetchone()[0]
            if has_workspace
            else table.count
        )
        tables.append(
            {
                "name": table.name,
                "columns": [
                    {
                        "name": c.name,
                        "type": c.type,
                        "notnull": bool(c.notnull),
                        "primary_key": bool(c.is_pk),
                    }
                    for c in table.columns
                ],
                "indexes": [
                    {"name": i.name, "columns": i.columns, "unique": bool(i.unique)}
                    for i in table.indexes
                ],
                "rows": rows,
            }
        )
    answer = {"tables": tables, "sql": registry().schema_sql()}
    if prefers_html():
        # A browser (a link, the address bar) gets the schema as tables to read; curl,
        # fetch() and requests get the JSON above.
        page = make_response(render_template("database_schema.html", **answer))
    else:
        page = make_response(answer)
    page.vary.add("Accept")  # one URL, two forms: a cache must keep them apart
    return page


@bp.get("/console")
def console() -> str:
    """Show a page to run read-only SQL from the browser (it calls POST /sandbox/sql)."""
    return render_template("database_console.html")
