-- The jobs module's table: one row per job, per workspace. The queue (huey) holds only a
-- message saying "run job 7 of workspace local"; what the job is, who asked, how its tries
-- went and what it made are kept here, where GET /jobs/<id> reads them.
create table if not exists jobs (
    id integer primary key,
    workspace text not null,
    kind text not null,                 -- what it does: 'export'
    owner text not null,                -- who enqueued it: the job runs as them
    identity text not null,             -- that identity, as JSON
    options text not null,              -- the request's options, as JSON ({"fail_times": 2})
    status text not null,               -- queued, running, done or failed
    attempts integer not null default 0,  -- how many times a worker started it
    tries text not null default '[]',   -- JSON: each try's record, thread, outcome
    result text,                        -- JSON: what it made (done only)
    error text,                         -- the last try's error
    request_record text,                -- the record of the request that enqueued it
    task_id text,                       -- the id of its message in the queue
    created_at text not null,
    updated_at text not null,
    finished_at text
);
create index if not exists jobs_by_workspace on jobs (workspace, id);
