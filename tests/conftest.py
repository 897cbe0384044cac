"""Shared fixtures: an app on a temporary data dir, a test client, a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from helpers import (
    CHROMIUM_ARGS,
    CHROMIUM_NOT_FOUND,
    LiveServer,
    Student,
    chromium_path,
    class_app,
    join,
    serve,
)

from sandbox import create_app
from sandbox.registry import shutdown


@pytest.fixture
def app(tmp_path) -> Iterator[Flask]:
    """Build a fresh sandbox on its own data dir; stop what its modules run afterwards."""
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})
    yield app
    shutdown(app)


@pytest.fixture
def client(app):
    """A Flask test client: fast, in-process, no sockets."""
    return app.test_client()


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    """Serve the app over real HTTP on 127.0.0.1 and a free port, in a thread."""
    with serve(app) as server:
        yield server


@pytest.fixture
def room(tmp_path) -> Iterator[LiveServer]:
    """A class server over real HTTP (python app.py --class-mode)."""
    with serve(class_app(tmp_path / "data")) as server:
        yield server


@pytest.fixture
def ada(room) -> Student:
    """A student who joined ``room`` (whichever room the test module serves)."""
    return join(room, "Ada")


@pytest.fixture
def bob(room) -> Student:
    """A second student of the same room."""
    return join(room, "Bob")


WITH_PROBE = ("sandbox.modules.server", "fixtures.probe")


@pytest.fixture
def probe_app(tmp_path) -> Flask:
    """A sandbox that also loads the test-only ``probe`` module (tests/fixtures/probe)."""
    return create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_MODULES": WITH_PROBE})


@pytest.fixture(scope="module")
def browser():
    """Launch headless Chromium once per test file, or give the reason it cannot start.

    The reason is handed on rather than raised here, so that each test FAILS with it (a
    fixture that raises would only mark the tests as errors) and is never skipped.
    """
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
            )
        except Error as error:
            yield f"{CHROMIUM_NOT_FOUND}\n({error.message.splitlines()[0]})"
            return
        yield browser
        browser.close()
