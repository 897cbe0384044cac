-- The ratelimit module's options, per workspace: what a learner changes while it runs.
create table if not exists ratelimit_options (
    workspace text primary key,
    rate text,                       -- "5/minute"; null: the SANDBOX_RATELIMIT_DEFAULT setting
    strategy text,                   -- "fixed-window"...; null: SANDBOX_RATELIMIT_STRATEGY
    epoch integer not null default 0 -- in every counter's key: a reset starts new counters
);
