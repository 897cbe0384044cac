"""The OpenAPI document is true: schemathesis sends generated requests and checks every answer.

Schemathesis turns each operation of the document into a Hypothesis strategy of requests,
valid ones (which must be accepted) and invalid ones (which must be refused with a 4xx);
every answer must match what the document promises, and none may be a 5xx. It runs twice:
on a sandbox as it starts (auth off), and with auth and encryption on, logged in with a
write token made through the app, the way a notebook would be.

The examples are derandomized: the same requests on every run, so a failure is a finding
to fix, never luck. To look for new findings, run with a random seed now and then:
``SANDBOX_FUZZ_SEED=random SANDBOX_FUZZ_EXAMPLES=1000 python -m pytest tests/test_openapi.py``.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection

from sandbox import create_app

PASSWORD = "fuzzing is a kind of testing"
RANDOM = os.environ.get("SANDBOX_FUZZ_SEED")  # unset: derandomized; "random" or a number
EXAMPLES = int(os.environ.get("SANDBOX_FUZZ_EXAMPLES", 100))  # per operation and mode
# Operations that make data by the thousand in one request (up to 20,000 notes, 200,000
# orders): a tenth of the examples, or fuzzing one of them would take minutes.
GENERATORS = {"POST /caching/notes", "POST /indexing/orders"}


def sandbox(name: str) -> Flask:
    return create_app(
        {
            "SANDBOX_DATA_DIR": tempfile.mkdtemp(prefix=f"sandbox-openapi-{name}-"),
            "SANDBOX_STREAM_SECONDS": 0.2,
        }
    )


APPS = {"auth-off": sandbox("off"), "auth-on": sandbox("on")}
SCHEMA = schemathesis.openapi.from_wsgi("/api/openapi.json", APPS["auth-off"])
# The live feed is an endless stream by design; it has its own test in test_record.py.
OPERATIONS = [
    result.ok()
    for result in SCHEMA.get_all_operations()
    if result.ok().path != "/sandbox/traces/stream"
]


_logged_in: dict[str, str] = {}


def log_in(app: Flask) -> dict[str, str]:
    """Switch auth and encryption on and return the headers of a logged-in client.

    Run before each operation: the fuzzer may have reset the sandbox (accounts and
    toggles included) or switched a module off while fuzzing the previous one.
    """
    client = app.test_client()
    for module in ("auth", "encryption"):
        response = client.patch(f"/sandbox/modules/{module}", json={"enabled": True})
        assert response.status_code == 200, response.get_data(as_text=True)
    if _logged_in and client.get("/auth/me", headers=_logged_in).status_code == 200:
        return _logged_in  # the token still works: a user may hold only 20 at once
    account = {"username": "fuzzer", "password": PASSWORD}
    if client.post("/auth/login", json=account).status_code != 200:
        response = client.post("/auth/register", json=account)
        assert response.status_code == 201, response.get_data(as_text=True)
    response = client.post("/auth/tokens", json={"name": "fuzzer", "scope": "write"})
    assert response.status_code == 201, response.get_data(as_text=True)
    _logged_in.update(Authorization=f"Bearer {response.json['token']}")
    return _logged_in


def fuzz_settings(test, examples: int = EXAMPLES):
    """Apply the Hypothesis settings: derandomized unless SANDBOX_FUZZ_SEED asks otherwise."""
    test = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=RANDOM is None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )(test)
    if RANDOM not in (None, "random"):
        test = seed(int(RANDOM))(test)
    return test


@pytest.mark.parametrize("mode", ["auth-off", "auth-on"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_answer_matches_the_document(operation, mode):
    app = APPS[mode]
    # Each operation starts from a fresh sandbox: what fuzzing the one before made (20,000
    # generated notes, say) must not make this one slow (an export of them all, in the
    # request), and a finding must not depend on the order operations ran in.
    assert app.test_client().post("/sandbox/reset").status_code == 200
    headers = log_in(app) if mode == "auth-on" else {}
    statuses: set[int] = set()
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    def check(case):
        excluded = []
        response = case.call(app=app, headers=headers)
        statuses.add(response.status_code)
        # A schema cannot say "valid SQL": {"sql": "0"} fits it and is rightly a 400 problem.
        # schemathesis.toml says so, for this test and for `st run` alike.
        if response.status_code == 413:
            # Over a megabyte: refused before it is read, rightly, whatever the body said.
            excluded.append(negative_data_rejection)
        case.validate_response(response, excluded_checks=excluded)

    examples = EXAMPLES // 10 if operation.label in GENERATORS else EXAMPLES
    fuzz_settings(check, examples)()
    if mode == "auth-on":
        # Every request carried a working write token: none may have been turned away.
        assert not statuses & {401, 403}, statuses


def test_every_operation_is_checked():
    documented = {
        f"{method.upper()} {path}"
        for path, item in SCHEMA.raw_schema["paths"].items()
        for method in item
        if method != "parameters"
    }
    # Left out: the endless live feed, and the document itself (schemathesis loads it).
    skipped = {"GET /sandbox/traces/stream", "GET /api/openapi.json"}
    assert {op.label for op in OPERATIONS} == documented - skipped


def test_the_document_and_the_code_agree_on_what_is_blank():
    """A character JSON Schema calls non-blank but Python strips is where they disagreed."""
    client = APPS["auth-off"].test_client()
    for blank in ("\x1f", "\x85", "\ufeff", "\u3000", " \t"):
        refused = client.post("/api/notes", json={"title": "x", "tags": [blank]})
        assert refused.status_code == 422, (repr(blank), refused.json)
        assert client.post("/api/notes", json={"title": blank}).status_code == 422
    kept = client.post("/api/notes", json={"title": "\x1fx\ufeff", "tags": ["\x85a"]})
    assert kept.status_code == 201
    assert kept.json["title"] == "x" and kept.json["tags"] == ["a"]
