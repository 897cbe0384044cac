-- The logging module's state, per workspace: which bug is planted (the learner is not
-- told which) and how many answers they gave; the level of each module's log lines.
create table if not exists logging_bugs (
    workspace  text primary key,
    bug        text,                       -- a name of bugs.BUGS; null: no bug planted
    planted_at text not null,
    secret     integer not null default 1, -- 1: chosen at random, the learner was not told
    guesses    integer not null default 0, -- wrong answers so far
    found_at   text                        -- when the learner named it right
);

create table if not exists logging_levels (
    workspace text not null,
    module    text not null,               -- a module's name, or "*" for every module
    level     text not null,               -- DEBUG, INFO, WARNING, ERROR or CRITICAL
    primary key (workspace, module)
);
