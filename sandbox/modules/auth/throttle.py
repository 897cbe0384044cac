"""Throttling: slow down whoever guesses passwords, per account and per address.

Without a limit, a script can try thousands of passwords a minute against one account.
With one, it gets a handful every 15 minutes: the 5 most recent failures for an account,
or 300 from one address, within the window, and further attempts are refused with
``429 Too Many Requests`` and ``Retry-After`` (how many seconds to wait) until the
oldest of them leaves the window. The password is not even checked meanwhile.

The failures are rows in the database, not a dict in memory, so that several worker
processes share one count: an attacker cannot get 5 tries from each of them.

And an attempt counts *before* its password is checked, not after. Checking a password
takes about 0.1 s (scrypt is slow on purpose); if the count went up only once a check had
failed, 30 guesses sent at the same moment would all find the count at 0, and all 30 would
be checked. So one transaction holding the database's write lock looks at the count and
adds this attempt to it, and only then is the password checked: the 30 guesses take turns
at the count, the first 5 are let through and the other 25 refused. A login that turns out
right clears the account's count, this attempt with it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from sandbox import db

WINDOW_MINUTES = 15
WINDOW = timedelta(minutes=WINDOW_MINUTES)
PER_ACCOUNT = 5  # failures per account name within the window
# Failures per client address within the window (one address, many names). High, because a
# whole classroom often shares one address (a school's router): 100 students who each mistype
# their password twice make 200 failures, and must not lock the room out. Guessing one
# account's password is capped by PER_ACCOUNT; this caps spraying guesses over many accounts.
PER_ADDRESS = 300


def _since() -> str:
    return (datetime.now(timezone.utc) - WINDOW).isoformat(timespec="milliseconds")


def retry_after(username: str, address: str) -> int | None:
    """Return how many seconds until this account and address may try again, or None for now."""
    conn, waits = db.get_db(), []
    limits = (("username", username, PER_ACCOUNT), ("address", address, PER_ADDRESS))
    for column, value, limit in limits:
        # The limit-th most recent failure in the window: when it leaves the window, fewer
        # than `limit` remain and trying is allowed again. (The column name comes from the
        # tuple above, never from the request.)
        row = conn.execute(
            f"select failed_at from login_failures where workspace = ? and {column} = ? "
            "and failed_at > ? order by failed_at desc limit 1 offset ?",
            [db.workspace(), value, _since(), limit - 1],
        ).fetchone()
        if row is not None:
            free_at = datetime.fromisoformat(row["failed_at"]) + WINDOW
            seconds = (free_at - datetime.now(timezone.utc)).total_seconds()
            waits.append(max(1, math.ceil(seconds)))
    return max(waits) if waits else None


def attempt(username: str, address: str) -> int | None:
    """Count one login attempt as failed, before its password is checked; or return the wait.

    Returns None when the attempt may go on (it is counted already), or how many seconds
    to wait when the account or the address is throttled (then nothing is counted).
    """
    conn = db.get_db().conn
    with conn:  # one transaction: no other attempt can count between our look and our count
        conn.execute("BEGIN IMMEDIATE")  # the write lock now, before the count is read
        wait = retry_after(username, address)
        if wait is None:
            failed(username, address)
    return wait


def failed(username: str, address: str) -> None:
    """Count one failed login, and forget the ones that left the window."""
    conn = db.get_db()
    conn.execute(
        "insert into login_failures (workspace, username, address, failed_at) values (?, ?, ?, ?)",
        [db.workspace(), username, address, db.now()],
    )
    conn.execute(
        "delete from login_failures where workspace = ? and failed_at <= ?",
        [db.workspace(), _since()],
    )


def succeeded(username: str) -> None:
    """Clear an account's failures: its owner got in, so the count starts again."""
    db.get_db().execute(
        "delete from login_failures where workspace = ? and username = ?",
        [db.workspace(), username],
    )
