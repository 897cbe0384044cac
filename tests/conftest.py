"""Shared fixtures: an app on a temporary data dir, a test client, a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from helpers import LiveServer, serve

from sandbox import create_app


@pytest.fixture
def app(tmp_path) -> Flask:
    """Build a fresh sandbox on its own data dir."""
    return create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def client(app):
    """A Flask test client: fast, in-process, no sockets."""
    return app.test_client()


@pytest.fixture
def live(app) -> Iterator[LiveServer]:
    """Serve the app over real HTTP on 127.0.0.1 and a free port, in a thread."""
    with serve(app) as server:
        yield server


WITH_PROBE = ("sandbox.modules.server", "fixtures.probe")


@pytest.fixture
def probe_app(tmp_path) -> Flask:
    """A sandbox that also loads the test-only ``probe`` module (tests/fixtures/probe)."""
    return create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_MODULES": WITH_PROBE})
