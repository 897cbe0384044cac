"""Notes in SQLite: every operation is one SQL statement you can read in the record."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.db import get_db
from sandbox.notes import Query, from_row

# Sort keys map to columns through this table only: user input never becomes SQL text.
ORDER = {"created": "created_at", "updated": "updated_at", "title": "title"}


class SQLiteStorage:
    """Notes in the ``notes`` table of the sandbox's SQLite file."""

    name = "database"

    @contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """Run the block as one transaction that holds the write lock from its first line."""
        conn = get_db().conn  # the request's connection: the record shows BEGIN to COMMIT
        # BEGIN IMMEDIATE takes the write lock now, not at the first write (a plain BEGIN
        # would wait until the INSERT): whatever the block reads first, no other writer can
        # change before the block has written and committed.
        with conn:  # commits when the block ends, rolls back if it raises
            conn.execute("BEGIN IMMEDIATE")
            yield conn

    def list(self, workspace: str, query: Query) -> tuple[list[dict[str, Any]], int]:
        where, params = ["workspace = ?"], [workspace]
        if query.owner is not None:
            where.append("owner = ?")
            params.append(query.owner)
        if query.tag:
            # tags is a JSON array; json_each turns it into rows we can match.
            where.append("exists (select 1 from json_each(notes.tags) where value = ?)")
            params.append(query.tag)
        if query.q:
            where.append("(title like ? escape '\\' or body like ? escape '\\')")
            pattern = (
                "%" + query.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            params += [pattern, pattern]
        condition = " and ".join(where)
        direction = "desc" if query.descending else "asc"
        db = get_db()
        rows = db.execute(
            f"select * from notes where {condition} "
            f"order by {ORDER[query.sort]} {direction}, id {direction} limit ? offset ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        total = db.execute(f"select count(*) from notes where {condition}", params).fetchone()[0]
        return [from_row(dict(r)) for r in rows], total

    def get(self, workspace: str, note_id: int, owner: str | None) -> dict[str, Any] | None:
        sql, params = "select * from notes where workspace = ? and id = ?", [workspace, note_id]
        if owner is not None:  # someone else's note is simply not found
            sql, params = sql + " and owner = ?", [*params, owner]
        row = get_db().execute(sql, params).fetchone()
        return from_row(dict(row)) if row else None

    def insert(self, workspace: str, note: dict[str, Any]) -> dict[str, Any]:
        row = {**note, "workspace": workspace, "tags": json.dumps(note["tags"])}
        cursor = get_db().execute(
            "insert into notes (workspace, owner, title, body, tags, created_at, updated_at) "
            "values (:workspace, :owner, :title, :body, :tags, :created_at, :updated_at)",
            row,
        )
        return {"id": cursor.lastrowid, **note}

    def update(
        self, workspace: str, note_id: int, fields: dict[str, Any], owner: str | None
    ) -> dict[str, Any] | None:
        values = {k: json.dumps(v) if k == "tags" else v for k, v in fields.items()}
        # Column names come from the note store's own field list, never from the request.
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        where = "workspace = :workspace and id = :id" + (" and owner = :owner" if owner else "")
        cursor = get_db().execute(
            f"update notes set {assignments} where {where}",
            {**values, "workspace": workspace, "id": note_id, "owner": owner},
        )
        return self.get(workspace, note_id, owner) if cursor.rowcount else None

    def delete(self, workspace: str, note_id: int, owner: str | None) -> bool:
        where = "workspace = ? and id = ?" + (" and owner = ?" if owner else "")
        params = [workspace, note_id] + ([owner] if owner else [])
        return get_db().execute(f"delete from notes where {where}", params).rowcount > 0
