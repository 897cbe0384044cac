"""The logging module's challenges, each checked from the request records."""

from __future__ import annotations

from sandbox.registry import Challenge


def _logging_events(record) -> list[dict]:
    return [e for e in record.events if e.get("module") == "logging"]


def found_record(record, buffer) -> bool:
    """Named the record of the drill's failed import, found from its log line."""
    return (
        record.path == "/logging/drill/answer"
        and record.status == 200
        and any(e.get("found_record") for e in _logging_events(record))
    )


def named_bug(record, buffer) -> bool:
    """Named a bug that was planted at random, without being told which."""
    return (
        record.path == "/logging/bugs/answer"
        and record.status == 200
        and any(e.get("found") and e.get("secret") for e in _logging_events(record))
    )


def spotted_n_plus_one(record, buffer) -> bool:
    """Named a notes list's record that ran one query per note, with its SQL count."""
    return (
        record.path == "/logging/n-plus-one"
        and record.status == 200
        and any(e.get("spotted") for e in _logging_events(record))
    )


CHALLENGES = (
    Challenge(
        id="logging.find_record",
        title="Find a failing request's record from its log line",
        hint="Switch logging on and POST /logging/drill: twelve jobs run, one fails. Filter the "
        "logs to level ERROR (the viewer, or GET /logging/lines?level=ERROR), copy the line's "
        'record_id and POST /logging/drill/answer {"record": "<id>"}.',
        check=found_record,
    ),
    Challenge(
        id="logging.name_bug",
        title="Name the planted bug",
        hint='POST /logging/bugs {"planted": true} plants one bug at random. Page through the '
        "notes, edit one, send two edits at once, and read the DEBUG lines (PUT /logging/levels "
        '{"module": "notes", "level": "DEBUG"}) and the records. Then POST /logging/bugs/answer '
        '{"bug": "<its name>"}.',
        check=named_bug,
    ),
    Challenge(
        id="logging.n_plus_one",
        title="Spot the N+1 from the SQL count in a record",
        hint='POST /logging/bugs {"planted": true, "bug": "n-plus-one"}, GET /api/notes, open '
        "its record and count its SQL: one more query per note. POST /logging/n-plus-one "
        '{"record": "<its id>", "sql_count": <how many>}.',
        check=spotted_n_plus_one,
    ),
)
