-- The indexing module's tables. Every row carries its workspace, like every table.

-- A shop's orders: big enough (up to a few hundred thousand rows a workspace) that
-- reading all of them is slow and finding a few through an index is not. No index but
-- the primary key on purpose: adding the right one is the lesson (POST /indexing/indexes).
create table if not exists orders (
    id         integer primary key,
    workspace  text not null,
    customer   text not null,     -- c0001 ... c5000: about 40 orders each in 200,000
    product    text not null,     -- p001 ... p200
    status     text not null,     -- delivered (70%), shipped, paid, pending, cancelled, refunded (2%)
    amount     integer not null,  -- cents: money is never a float
    quantity   integer not null,
    address    text not null,     -- where it goes: "17 Elm Street, Lyon"
    comment    text not null,     -- what the customer wrote at checkout, often ''
    created_at text not null      -- ISO 8601, in the order the orders came in
);

-- The indexes learners made through POST /indexing/indexes, and whose they are. An index
-- belongs to the whole database file (in a class, every student's rows are in it), so the
-- module keeps who made each one: only its maker may drop it.
create table if not exists indexing_indexes (
    name       text primary key,   -- ix_<workspace>_<table>_<columns>: made by the module
    workspace  text not null,
    table_name text not null,
    columns    text not null,      -- a JSON list, in index order
    pages      integer,            -- pages the file grew by when it was made (when dbstat is missing)
    created_at text not null
);

-- How many orders each workspace holds, kept as orders are added: counting them would
-- read the whole table (that is what a missing index costs), and a class's table holds
-- every student's orders.
create table if not exists indexing_workspaces (
    workspace text primary key,
    orders    integer not null default 0
);
