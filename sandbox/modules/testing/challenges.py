"""The testing module's challenges, each checked from the record of a reported run."""

from __future__ import annotations

from typing import Any

from sandbox.registry import Challenge

# Tests in one run that must pass having sent requests: a suite, not a lone check.
SUITE = 3


def _run_event(record: Any) -> dict[str, Any] | None:
    """Return the event of a run report that was kept (a 201 on POST /testing/runs), or None."""
    if record.method != "POST" or record.status != 201 or not record.path.endswith("/testing/runs"):
        return None
    return next((e for e in record.events if e.get("module") == "testing" and "run" in e), None)


def ran_a_suite(record: Any, buffer: Any) -> bool:
    """A run in which at least SUITE tests passed, each having sent requests to this sandbox."""
    seen = _run_event(record)
    return seen is not None and seen["passed_with_requests"] >= SUITE


def caught_a_bug(record: Any, buffer: Any) -> bool:
    """A run in which a test passed that failed in an earlier run while a planted bug was on."""
    seen = _run_event(record)
    return seen is not None and bool(seen["caught_bugs"])


CHALLENGES = (
    Challenge(
        id="testing.suite",
        title=f"Run a suite of {SUITE} passing tests against your sandbox",
        hint=f"Write {SUITE} tests that use the `sandbox` fixture and run them with "
        "`python -m pytest -p sandbox.testing --sandbox-url <your sandbox's address>` (in a "
        "notebook: ipytest with the same options). Each must send a request and pass.",
        check=ran_a_suite,
    ),
    Challenge(
        id="testing.caught_bug",
        title="Write a test that catches a planted bug",
        hint="Switch the logging module on and plant a bug you know: POST /logging/bugs "
        '{"planted": true, "bug": "off-by-one"}. Write a test that fails because of it and run '
        'it against your sandbox: red. Remove the bug (POST /logging/bugs {"planted": false}) '
        "and run the same test again: green.",
        check=caught_a_bug,
    ),
)
