-- The caching module's options, per workspace: what a learner switches while it runs.
create table if not exists caching_options (
    workspace text primary key,
    invalidate integer not null default 1,  -- 0: writes leave stale copies in the cache
    ttl integer not null                    -- seconds a copy is kept
);
