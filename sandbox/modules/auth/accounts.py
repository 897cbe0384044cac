"""Accounts: usernames, the password policy, and password hashes that are slow to crack.

A password is never stored. What is stored is a hash made with **scrypt**, a function
built to be slow (about 0.1 s here) and to need memory, so that someone who steals the
database can try only a few guesses per second per core instead of billions.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import sqlite3
import threading
import unicodedata
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from sandbox import db
from sandbox.errors import ValidationFailed
from sandbox.record import current_record
from sandbox.redact import REDACTED

ROLES = ("student", "instructor")
USERNAME = re.compile(r"[a-z0-9_.-]{3,32}")
# NIST SP 800-63B: length is what makes a password strong, so ask for at least 8 characters,
# allow at least 64 (we allow 128), and no rules like "one digit and one symbol": they make
# passwords harder to remember and barely harder to guess ("Password1!").
PASSWORD_MIN = 8
PASSWORD_MAX = 128
# The shared guest owns every note written while auth was off: nobody may become it.
RESERVED = frozenset({"guest"})


@functools.cache
def common_passwords() -> frozenset[str]:
    """Return the 30,000 most common passwords (zxcvbn's list), loaded once, on first use."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def normalize_password(password: str) -> str:
    """Return the password in Unicode NFKC form, as NIST advises before hashing.

    The same word can arrive as different code points ("ﬁ" or "fi", a composed "é" or
    "e" plus an accent) depending on the keyboard; normalized, both log in.
    """
    return unicodedata.normalize("NFKC", password)


# Each scrypt run takes all of one core for about 0.1 s and 32 MB of memory, on purpose.
# A room of 100 logging in at the same moment would run 100 at once: 3 GB of memory (850
# MB measured at the peak of the class benchmark), and no hash finishes sooner, since
# there are only so many cores to run them. So hashes take turns, as many at a time as
# there are cores: the same logins per second, a fraction of the memory.
HASHING = threading.BoundedSemaphore(os.cpu_count() or 2)


def hash_password(password: str) -> str:
    """Hash a password with scrypt and a random salt: "scrypt:32768:8:1$<salt>$<hash>"."""
    with HASHING:
        return generate_password_hash(normalize_password(password), method="scrypt")


# For logins of unknown users: a hash in werkzeug's format with the cost every real hash
# here carries (scrypt, n=2**15, r=8, p=1), made of random bytes, so no password matches it.
# Checking a password against it costs one scrypt run, like a real check. It is made up,
# not computed, so that even the first unknown user is not slower than a known one.
_DUMMY_HASH = f"scrypt:32768:8:1${secrets.token_hex(8)}${secrets.token_hex(64)}"


def normalize_username(name: str) -> str:
    """Return a username as it is stored: lowercase, so "Alice" and "alice" are one account."""
    return name.strip().lower()


def username_problem(username: str) -> str | None:
    """Return what is wrong with a new username, as typed, or None."""
    # isascii() before lowercasing: some Unicode letters lowercase into ASCII (the Kelvin
    # sign "\u212a" becomes "k"), and lookalikes ("аlice" with a Cyrillic "а") fool people.
    name = username.strip()
    if not name.isascii() or not USERNAME.fullmatch(name.lower()):
        return (
            f"Use 3 to 32 characters: letters a-z, digits, and _ . - only "
            f"({len(name)} character(s) sent)."
        )
    if name.lower() in RESERVED:
        return (
            f"'{name.lower()}' is the shared guest who owns the notes written while auth was "
            "off; pick another name."
        )
    return None


def password_problems(password: str, username: str) -> list[str]:
    """Return what is wrong with a new password, one message per rule it breaks."""
    password = normalize_password(password)
    if len(password) < PASSWORD_MIN:
        return [
            f"Use at least {PASSWORD_MIN} characters ({len(password)} sent). A few unrelated "
            "words make a long password that is easy to remember."
        ]
    if len(password) > PASSWORD_MAX:
        return [f"Use at most {PASSWORD_MAX} characters ({len(password)} sent)."]
    problems = []
    if password.lower() == username:
        problems.append("Must not be your username: it is the first thing anyone would try.")
    if password.lower() in common_passwords():
        problems.append(
            "This is one of the 30,000 most common passwords, the first ones attackers try. "
            "Pick one that is not on such a list."
        )
    return problems


def find(username: str) -> dict[str, Any] | None:
    """Return the account with this username in this workspace, or None."""
    row = (
        db.get_db()
        .execute(
            "select id, username, password_hash, role, created_at from users "
            "where workspace = ? and username = ?",
            [db.workspace(), normalize_username(username)],
        )
        .fetchone()
    )
    return dict(row) if row else None


def public(user: dict[str, Any]) -> dict[str, Any]:
    """Return what may be shown of an account: never its password hash."""
    return {"username": user["username"], "role": user["role"], "created_at": user["created_at"]}


def create(username: str, password: str, role: str = "student") -> dict[str, Any]:
    """Make an account, or raise one 422 that lists what to change in each field."""
    name = normalize_username(username)
    errors = []
    if problem := username_problem(username):
        errors.append({"field": "username", "message": problem})
    elif find(name) is not None:
        errors.append({"field": "username", "message": f"'{name}' is taken; pick another."})
    errors += [{"field": "password", "message": m} for m in password_problems(password, name)]
    if role not in ROLES:
        errors.append({"field": "role", "message": f"Must be one of: {', '.join(ROLES)}."})
    if errors:
        raise ValidationFailed(errors)
    user = {
        "workspace": db.workspace(),
        "username": name,
        "password_hash": hash_password(password),
        "role": role,
        "created_at": db.now(),
    }
    record = current_record()
    mark = len(record.sql) if record else 0
    try:
        cursor = db.get_db().execute(
            "insert into users (workspace, username, password_hash, role, created_at) "
            "values (:workspace, :username, :password_hash, :role, :created_at)",
            user,
        )
    except sqlite3.IntegrityError:  # the same name registered a moment ago by another request
        raise ValidationFailed(
            [{"field": "username", "message": f"'{name}' is taken; pick another."}]
        ) from None
    if record is not None:
        # The record shows the statement and its values, but not the hash: a hash lets anyone
        # who reads it guess passwords offline, so it stays in the database only.
        for entry in record.sql[mark:]:
            if isinstance(entry.get("params"), dict) and "password_hash" in entry["params"]:
                entry["params"]["password_hash"] = REDACTED
    return {"id": cursor.lastrowid, **user}


def password_matches(user: dict[str, Any] | None, password: str) -> bool:
    """Return whether the password is the account's; False when there is no account.

    Both cases do the same work, one scrypt check, so the time an answer takes does not
    tell an attacker which usernames exist.
    """
    with HASHING:  # a check is a hash too: the same turns (see HASHING)
        if user is None:
            check_password_hash(_DUMMY_HASH, password)
            return False
        return check_password_hash(user["password_hash"], normalize_password(password))


def all_users() -> list[dict[str, Any]]:
    """Return every account of this workspace, oldest first, without password hashes."""
    rows = (
        db.get_db()
        .execute(
            "select username, role, created_at from users where workspace = ? order by id",
            [db.workspace()],
        )
        .fetchall()
    )
    return [dict(r) for r in rows]
