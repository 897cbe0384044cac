-- The class's own tables, in their own file (class.db in the data dir), apart from the
-- students' data in sandbox.db: no student's SQL console opens this file, so no student
-- reads an instructor's password hash or the class's settings.

-- Instructors: the class's accounts, not the auth lesson's users of some workspace.
CREATE TABLE IF NOT EXISTS class_instructors (
    name          TEXT PRIMARY KEY,              -- lowercase
    password_hash TEXT NOT NULL,                 -- werkzeug's scrypt: method, salt and hash
    epoch         INTEGER NOT NULL DEFAULT 0,    -- +1 at log out or a new password: older
                                                 -- cookies and tokens of this name stop working
    created_at    TEXT NOT NULL
);

-- The room's rule for each module: the state every workspace starts with (and returns to at
-- a reset), and whether students may switch it. Written from the preset, changed from the
-- dashboard; a module without a row follows its own default and is switchable.
CREATE TABLE IF NOT EXISTS class_modules (
    name       TEXT PRIMARY KEY,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    locked     INTEGER NOT NULL CHECK (locked IN (0, 1)),
    updated_at TEXT NOT NULL
);

-- What instructors did from the dashboard, newest last; each also shows as an event in the
-- record of the request that did it (trace_id).
CREATE TABLE IF NOT EXISTS class_actions (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL,
    instructor TEXT NOT NULL,
    action     TEXT NOT NULL,   -- reset, reset-all, module, join-code, export
    detail     TEXT NOT NULL,   -- in words: "reset the workspace of Ada (3f9a0c12de)"
    trace_id   TEXT
);

CREATE TABLE IF NOT EXISTS class_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Wrong instructor passwords, by address, for the login throttle: in the file every worker
-- process reads (python app.py --workers), so each counts them all. Rows older than the
-- window are deleted as new ones come.
CREATE TABLE IF NOT EXISTS class_login_failures (
    address TEXT NOT NULL,
    at      REAL NOT NULL              -- seconds since the epoch
);
CREATE INDEX IF NOT EXISTS class_login_failures_by_address ON class_login_failures (address, at);
