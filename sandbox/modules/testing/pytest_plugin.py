"""The pytest plugin ``sandbox.testing``: a ``sandbox`` fixture, marked requests, a report.

Installed with the package (the ``pytest11`` entry point in pyproject.toml), so any test
may ask for the fixture::

    def test_a_note_can_be_read_back(sandbox):
        created = sandbox.post("/api/notes", json={"title": "hello"})
        assert sandbox.get(created.headers["Location"]).json()["title"] == "hello"

By default each test gets a fresh sandbox of its own, started in this process on the
test's temporary folder and stopped after it: tests cannot disturb each other. With
``--sandbox-url`` they test a sandbox that is already running (yours: ``python app.py``,
a notebook's, a class workspace's URL with its ``?token=``) and share its state.

Every request a test sends through the fixture (``sandbox.get``, ``sandbox.client()``,
``sandbox.progress()``...) carries the test's name in ``X-Sandbox-Test``, so its record
says which test sent it. At the end of the session the plugin reports each test's outcome
to the sandbox (``POST /testing/runs``, the testing module), which sets them beside the
requests it saw: the page ``/testing/`` shows the runs, and challenges are checked from
them. A fresh sandbox hears about its one test before it stops.

It loads as part of ``sandbox.testing`` (``sandbox/testing.py`` gathers the modules'
plugins): without the entry point (running from a checkout), load that by name:
``pytest -p sandbox.testing``.
Settings of the fresh sandboxes come from the ``sandbox_settings`` fixture: override it
(``return {"SANDBOX_TRACE_LIMIT": 50}``) in a conftest.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.handle import TOKEN_HEADER, Sandbox, SandboxProblem
from sandbox.modules.testing.marks import ID_MAX, SESSION_HEADER, TEST_HEADER

_TRACKER = pytest.StashKey["Tracker"]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def wire_id(nodeid: str) -> str:
    """Return a test's node id as a header can carry it: ASCII, at most ID_MAX characters.

    HTTP header values are bytes in Latin-1; pytest already escapes most ids this way, and
    the report sends the same text, so the server matches the two.
    """
    return nodeid.encode("ascii", "backslashreplace").decode("ascii")[:ID_MAX]


def reported_id(item: pytest.Item) -> str:
    """Return the name a test is marked and reported under: its node id, as a header carries it.

    A notebook's tests are the exception: ipytest runs them from a temporary file with a
    new random name each time, so they are named ``notebook::<test>`` instead, the same
    from one run to the next.
    """
    nodeid = item.nodeid
    module = getattr(item, "module", None)
    if module is not None and module.__name__ == "__main__" and "::" in nodeid:
        nodeid = "notebook::" + nodeid.split("::", 1)[1]
    return wire_id(nodeid)


class MarkedSandbox(Sandbox):
    """A sandbox handle whose every request says which test sent it."""

    marks: dict[str, str]

    @classmethod
    def fresh(cls, data_dir: Path, **settings: Any) -> MarkedSandbox:
        """Start a sandbox on ``data_dir`` in this process, leaving any other running.

        Unlike ``Sandbox.start()``, which stops the sandbox it started before: a notebook
        that runs tests (ipytest) keeps its own sandbox while each test gets a fresh one.
        """
        sandbox = cls("", data_dir=Path(data_dir).resolve())
        sandbox._settings = settings
        sandbox._serve(0)
        return sandbox

    def mark(self, test: str, session: str) -> None:
        """Send the test's name and the session's id with every request from now on."""
        self.marks = {TEST_HEADER: test, SESSION_HEADER: session}
        self.session.headers.update(self.marks)

    def client(self) -> requests.Session:
        """Return a second client (no cookies), marked like this one."""
        session = super().client()
        session.headers.update(getattr(self, "marks", {}))
        return session


def outcome(reports: dict[str, pytest.TestReport]) -> str:
    """Return one test's outcome from its phases' reports, as pytest's summary counts it."""
    for when in ("setup", "call", "teardown"):
        report = reports.get(when)
        if report is not None and report.failed:
            return "failed" if when == "call" else "error"
    for report in reports.values():
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed"
    if any(report.skipped for report in reports.values()):
        return "skipped"
    return "passed"


def result(item: pytest.Item) -> dict[str, Any]:
    """Return a test as the report sends it: its id, outcome and duration."""
    reports = item.stash.get(_REPORTS, {})
    duration = sum(r.duration for r in reports.values()) * 1000
    return {"id": reported_id(item), "outcome": outcome(reports), "duration_ms": duration}


def count_tests(count: int) -> str:
    """Return "1 test" or "3 tests"."""
    return f"{count} test" if count == 1 else f"{count} tests"


class Tracker:
    """One pytest session: its id, and what it reported to which sandbox."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.session = secrets.token_hex(8)  # tells this session's requests from any other's
        self.lines: list[str] = []  # for the terminal summary
        self.fresh = 0  # fresh sandboxes that heard of their test

    def report(self, sandbox: Sandbox, tests: list[dict[str, Any]], *, fresh: bool = False) -> None:
        """Post the outcomes to the sandbox; note what it answered (never fail the session)."""
        source = f"pytest {pytest.__version__} (sandbox.testing)"
        body = {"tests": tests, "session": self.session, "source": source}
        try:
            # Not through the handle's session: the report is the plugin's, not a test's request.
            token = sandbox.session.headers.get(TOKEN_HEADER)
            response = requests.post(
                sandbox.url_for("/testing/runs"),
                json=body,
                headers={TOKEN_HEADER: token} if token else {},
                timeout=30,
            )
            if not response.ok:
                raise SandboxProblem(response)
        except (requests.RequestException, SandboxProblem) as error:
            self.lines.append(f"could not report {len(tests)} tests to {sandbox.url}: {error}")
            return
        run = response.json()
        if fresh:  # its address is gone with it: a count says enough
            self.fresh += 1
            return
        self.lines.append(
            f"run {run['number']} reported to {sandbox.url}: {count_tests(run['tests'])}, "
            f"{run['sent_requests']} of them sent requests; see {sandbox.url_for('/testing/')}"
        )


@pytest.hookimpl
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sandbox", "the backend sandbox (sandbox.testing)")
    group.addoption(
        "--sandbox-url",
        default=None,
        help="test the sandbox running at this URL (yours) instead of a fresh one per test",
    )
    group.addoption(
        "--sandbox-token",
        default=None,
        help="the token of a class workspace or of a sandbox listening beyond this computer",
    )


@pytest.hookimpl
def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TRACKER] = Tracker(config)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    # Keep each phase's report on the test: the outcome is known only once all have run.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def sandbox_settings() -> dict[str, Any]:
    """Return settings for the fresh sandboxes (override it to change them)."""
    return {}


@pytest.fixture
def sandbox(
    request: pytest.FixtureRequest, tmp_path: Path, sandbox_settings: dict[str, Any]
) -> Iterator[MarkedSandbox]:
    """A sandbox to test: a fresh one, or the one at --sandbox-url; its requests marked."""
    tracker = request.config.stash[_TRACKER]
    url = request.config.getoption("sandbox_url")
    if url:
        token = request.config.getoption("sandbox_token")
        handle = MarkedSandbox.connect(url, token=token)
        handle.mark(reported_id(request.node), tracker.session)
        try:
            yield handle
        finally:
            handle.session.close()
        return
    handle = MarkedSandbox.fresh(tmp_path / "sandbox", **sandbox_settings)
    handle.mark(reported_id(request.node), tracker.session)
    try:
        yield handle
        # The sandbox goes away with the test: it hears of its one test now.
        tracker.report(handle, [result(request.node)], fresh=True)
    finally:
        handle.stop()


@pytest.hookimpl
def pytest_sessionfinish(session: pytest.Session) -> None:
    tracker = session.config.stash.get(_TRACKER, None)
    if tracker is None:
        return
    url = session.config.getoption("sandbox_url")
    # Every test that ran, the fixture's or not: the session tested this sandbox, and a
    # test that sent it nothing (a unit test) shows as one.
    ran = [item for item in session.items if _REPORTS in item.stash]
    if not url or not ran:
        return
    try:
        handle = Sandbox.connect(url, token=session.config.getoption("sandbox_token"))
    except ConnectionError as error:
        tracker.lines.append(f"could not report {len(ran)} tests: {error}")
        return
    tracker.report(handle, [result(item) for item in ran])
    handle.session.close()


@pytest.hookimpl
def pytest_terminal_summary(terminalreporter: Any) -> None:
    tracker = terminalreporter.config.stash.get(_TRACKER, None)
    if tracker is None or not (tracker.lines or tracker.fresh):
        return
    terminalreporter.section("sandbox")
    if tracker.fresh:
        terminalreporter.write_line(
            f"{count_tests(tracker.fresh)} ran on a fresh sandbox each, which heard of its test "
            "before it stopped (--sandbox-url tests yours instead)"
        )
    for line in tracker.lines:
        terminalreporter.write_line(line)
