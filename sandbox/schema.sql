-- The sandbox's own tables. Every row carries a workspace: one ("local") today,
-- one per student when class mode comes, without changing these tables.

CREATE TABLE IF NOT EXISTS sandbox_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Which modules are on. A missing row means "the module's default".
CREATE TABLE IF NOT EXISTS module_state (
    workspace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (workspace, name)
);

-- Which challenges a learner has solved, and the request that solved each.
CREATE TABLE IF NOT EXISTS progress (
    workspace TEXT NOT NULL,
    challenge TEXT NOT NULL,
    solved_at TEXT NOT NULL,
    trace_id  TEXT,
    PRIMARY KEY (workspace, challenge)
);

-- Class mode: a workspace per student. Only the SHA-256 of its token is kept; the token
-- itself was shown once, to the student who joined.
CREATE TABLE IF NOT EXISTS class_workspaces (
    id           TEXT PRIMARY KEY,          -- in the workspace's URL: /w/<id>/
    name         TEXT NOT NULL UNIQUE,      -- lowercase, so "Ada" and "ada" are one student
    display_name TEXT NOT NULL,             -- as typed
    token_hash   TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

-- The example domain: notes. Modules encrypt bodies, scope notes to their owner,
-- cache lists and index tags. Each module's own tables are in its folder's schema.sql.
CREATE TABLE IF NOT EXISTS notes (
    id         INTEGER PRIMARY KEY,
    workspace  TEXT NOT NULL,
    owner      TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    tags       TEXT NOT NULL DEFAULT '[]',  -- a JSON array of strings
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Lists of notes are read per workspace, newest or oldest first: this index lets
-- SQLite find them in order without sorting the whole table (see EXPLAIN QUERY PLAN).
CREATE INDEX IF NOT EXISTS notes_by_workspace_created ON notes (workspace, created_at);
-- With logins on, each list and count is one owner's: without this index SQLite would read
-- every note of the workspace (a whole room's, on a shared server) to find one person's.
CREATE INDEX IF NOT EXISTS notes_by_owner_created ON notes (workspace, owner, created_at);
