"""Settings: every knob of the sandbox, as a row that carries its own help.

The landing page, ``GET /sandbox/settings``, the notebooks and the documentation
tests all read this one list. Set a value in ``<data dir>/config.py`` (Flask's
instance file) or pass it to ``create_app({...})``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One setting: its name, its default value and what it does."""

    name: str
    default: Any
    help: str
    secret: bool = False  # shown as set or not, never its value


SETTINGS = (
    Setting(
        "SANDBOX_DATA_DIR",
        "instance",
        "Folder for the database, the secret key and other state (made on first start)",
    ),
    Setting(
        "SANDBOX_WORKSPACE",
        "local",
        "Whose data, toggles and progress this server reads; one workspace in local mode",
    ),
    Setting(
        "SANDBOX_MODULES",
        None,
        "Dotted paths of the module packages to load; None loads the built-in ones",
    ),
    Setting("SANDBOX_TRACE_LIMIT", 500, "How many request records to keep in memory"),
    Setting(
        "SANDBOX_RECORDS",
        True,
        "Record every request; switch off only to measure what recording costs",
    ),
    Setting("SANDBOX_BODY_EXCERPT", 2048, "How many characters of a request body a record keeps"),
    Setting(
        "SANDBOX_STREAM_SECONDS",
        30,
        "How long one live-feed connection stays open before the browser reconnects",
    ),
    Setting("SANDBOX_SQL_ROW_LIMIT", 1000, "Most rows the read-only SQL console returns"),
    Setting(
        "SANDBOX_SQL_TIME_LIMIT_MS",
        1000,
        "Longest a read-only SQL console query may run, in milliseconds",
    ),
    Setting(
        "SANDBOX_HOST",
        "127.0.0.1",
        "Address the server listens on (python app.py --host); its requests' Host may name it",
    ),
    Setting(
        "SANDBOX_ALLOWED_HOSTS",
        (),
        "More host names the sandbox answers for, beyond 127.0.0.1, localhost, [::1] and "
        "--host (a name behind a proxy, say); '*' answers any (and undoes the DNS-rebinding "
        "defence)",
    ),
    Setting(
        "SANDBOX_TRUSTED_ORIGINS",
        (),
        "Origins (scheme://host:port) of other sites allowed to send state-changing requests, "
        "such as a front end you build on http://localhost:3000",
    ),
    Setting(
        "SANDBOX_OPERATOR_TOKEN",
        None,
        "Token the control plane asks for; python app.py makes one at start when it listens "
        "beyond loopback (and prints it), none on loopback",
        secret=True,
    ),
    Setting(
        "SANDBOX_THREADS",
        # An open live feed (a browser tab) holds a thread: 400 serve 300 tabs and still
        # leave threads for quick requests. A waiting thread costs little: 300 open feeds
        # took the server from 64 to 81 MB (python tests/bench/bench_feeds.py).
        400,
        "Requests served at once (python app.py --threads); slow answers and live feeds may "
        "hold all but a few of them",
    ),
    Setting(
        "SANDBOX_WORKERS",
        1,
        "Processes serving requests (python app.py --workers N): more than one uses every "
        "core; records, the live feed, switches and progress are then shared through the "
        "data dir's files",
    ),
    Setting(
        "SANDBOX_CONNECTION_LIMIT",
        # Every browser tab, Postman and requests.Session keeps its connection open: a room
        # of students holds many idle ones. 1,200 leave room for 1,000 idle and new clients
        # (python tests/bench/bench_connections.py); each costs a few kB.
        1200,
        "Open connections accepted at once, idle keep-alive ones included "
        "(python app.py --connection-limit)",
    ),
    Setting(
        "SANDBOX_CLASS_MODE",
        False,
        "Serve a class (python app.py --class-mode): every student joins into a workspace of "
        "their own under /w/<id>/",
    ),
    Setting(
        "SANDBOX_CLASS_MAX_WORKSPACES",
        200,
        "How many students may join a class server",
    ),
    Setting(
        "SANDBOX_SQL_BYTE_LIMIT",
        2_000_000,
        "Largest answer the read-only SQL console sends, in bytes of JSON; half of it is "
        "SQLite's length limit for any single value on the console's connection",
    ),
    Setting(
        "SANDBOX_CLASS_CONFIG",
        None,
        "Path of the class preset, a TOML file (python app.py --class-config class.toml): the "
        "room's name, the modules it starts with and locks, the challenges in scope, the join "
        "code's expiry",
    ),
    Setting(
        "MAX_CONTENT_LENGTH",
        1024 * 1024,
        "Largest request body accepted, in bytes; larger ones get a 413",
    ),
)


def defaults() -> dict[str, Any]:
    """Return ``{name: default}`` for every setting."""
    return {s.name: s.default for s in SETTINGS}


def misspelled(given: Iterable[str], known: Iterable[str]) -> list[str]:
    """Return a warning for each given name that is no setting but looks like one.

    Flask reads every upper-case name in config.py without complaint, so a typo
    (SANDBOX_TRACE_LIMT) would be ignored silently: name the setting it resembles.
    """
    known = sorted(set(known))
    warnings = []
    for name in given:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            warnings.append(f"config.py sets {name}, which is no setting: did you mean {close[0]}?")
        elif name.startswith("SANDBOX_"):
            warnings.append(
                f"config.py sets {name}, which is no setting (GET /sandbox/settings lists them)."
            )
    return warnings
