-- The testing module's tables: what the tests of a learner did, and what they reported.

-- Each request a test sent through the pytest plugin's `sandbox` fixture (marked with
-- the X-Sandbox-Test header), as the server saw it: the server's side of a test run.
create table if not exists testing_requests (
    id integer primary key,
    workspace text not null,
    test text not null,           -- the test's pytest node id, from X-Sandbox-Test
    session text,                 -- the pytest session that sent it (X-Sandbox-Test-Session)
    record_id text,               -- the request's record: GET /sandbox/traces/<record_id>
    method text not null,
    path text not null,
    status integer,
    bug_on integer not null,      -- 1 if a planted bug (logging module) was on at the time
    at text not null,
    run integer                   -- the run that reported this test, once reported
);
create index if not exists testing_requests_unclaimed
    on testing_requests (workspace, session, test, run);

-- A run: one pytest session's report (POST /testing/runs), numbered per workspace.
create table if not exists testing_runs (
    workspace text not null,
    number integer not null,
    reported_at text not null,
    source text not null,         -- what ran the tests ("pytest 8.3 (sandbox.testing)")
    primary key (workspace, number)
);

-- Each test of a run: its outcome as pytest reported it, and what the server saw of it.
create table if not exists testing_results (
    workspace text not null,
    run integer not null,
    test text not null,
    outcome text not null,        -- passed, failed, error, skipped, xfailed, xpassed
    duration_ms real,
    requests integer not null,    -- marked requests the server saw from this test in this run
    bug_requests integer not null, -- how many of them while a planted bug was on
    primary key (workspace, run, test)
);
