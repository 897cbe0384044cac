-- The auth module's tables: accounts, sessions, API tokens and failed logins.
-- Every row carries its workspace, like the core's tables.

-- Accounts. A username is kept in lowercase, so "Alice" and "alice"
-- are one account. The password is never stored: password_hash holds werkzeug's
-- "scrypt:32768:8:1$<salt>$<hash>", which carries its own method, cost and salt.
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    workspace     TEXT NOT NULL,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL DEFAULT 'student' CHECK (role IN ('student', 'instructor')),
    created_at    TEXT NOT NULL,
    UNIQUE (workspace, username)
);

-- Logged-in sessions. The cookie carries a random secret; only its SHA-256 is kept here,
-- and logout sets ended_at, so a copied cookie stops working the moment its owner leaves.
CREATE TABLE IF NOT EXISTS sessions (
    id          INTEGER PRIMARY KEY,
    workspace   TEXT NOT NULL,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
);

-- API tokens: shown once when made, then only their SHA-256 is kept.
CREATE TABLE IF NOT EXISTS tokens (
    id         INTEGER PRIMARY KEY,
    workspace  TEXT NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT
);

-- Failed logins of the last minutes, per account name and per address: the throttle
-- counts them here, so every worker process sees the same count.
CREATE TABLE IF NOT EXISTS login_failures (
    id        INTEGER PRIMARY KEY,
    workspace TEXT NOT NULL,
    username  TEXT NOT NULL,
    address   TEXT NOT NULL,
    failed_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_failures_by_username ON login_failures (workspace, username, failed_at);
CREATE INDEX IF NOT EXISTS login_failures_by_address ON login_failures (workspace, address, failed_at);
