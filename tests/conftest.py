"""Shared fixtures: an app on a temporary data dir, a test client, a live server."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import fast_routes
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

fast_routes.install()  # werkzeug compiles each route's URL builder once per run, not per app

# A folder in memory (Linux's /dev/shm), used when it has room: see pytest_configure.
RAM_DISK = Path("/dev/shm")
RAM_DISK_ROOM = 2 * 1024**3  # bytes free, at least; Docker's default 64 MB is too small
_ram_tmp: Path | None = None
_FAILED = pytest.StashKey[bool]()


WORKERS_MAX = 4  # more processes than this buy little and start a browser, kernels... each


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads -n
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run the whole suite on every core (pytest-xdist), as if given -n logical --dist loadscope.

    Most of the suite's time is one core busy serving requests in this process (the server
    threads and the test share one interpreter), so on two cores two workers take about
    half the time. Only the whole suite (README's command, no test named): a file or a test
    named on the command line still runs here, in this process, where it starts at once and
    a debugger works. -n (-n 0 for none) and -p no:xdist decide instead, when given.
    loadscope: all the tests of a file run in the same worker, in order, so a file's
    module-scoped fixtures (a browser, a Jupyter server, a served app) start once.
    Set here, not in pyproject.toml's addopts: those also reach the pytest that the testing
    notebook runs inside its kernel (ipytest), which must stay in that one process.
    """
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.numprocesses is not None or config.option.dist != "no":
        return  # the command line chose
    if config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return  # tests named: run them here
    if config.option.usepdb or config.option.collectonly:
        return
    config.option.numprocesses = "logical"  # CI runners count hyperthreads as their CPUs
    config.option.maxprocesses = config.option.maxprocesses or WORKERS_MAX
    config.option.dist = "loadscope"


@pytest.hookimpl(tryfirst=True)  # before pytest's own tmp_path plugin reads --basetemp
def pytest_configure(config: pytest.Config) -> None:
    """Keep the tests' temporary files (tmp_path, TMPDIR) in memory when the machine can.

    Every app the tests build writes SQLite files, and SQLite waits for the disk on each
    commit (fsync): on a disk that is most of a test's time (create_app: 0.3 s on disk,
    0.08 s in memory). Nothing a test checks depends on where its folder is, and a crash
    of the machine, the one thing the disk guards against, does not matter to a test run.
    An explicit --basetemp, an xdist worker (its controller chose) or a machine without
    such a folder keeps pytest's default. Kernels, servers and browsers the tests start
    inherit TMPDIR, so Sandbox.start() in a notebook writes to memory too.
    """
    global _ram_tmp
    if config.option.basetemp is not None or hasattr(config, "workerinput"):
        return
    if not (RAM_DISK.is_dir() and os.access(RAM_DISK, os.W_OK)):
        return
    if shutil.disk_usage(RAM_DISK).free < RAM_DISK_ROOM:
        return
    _ram_tmp = Path(tempfile.mkdtemp(prefix="sandbox-tests-", dir=RAM_DISK))
    config.option.basetemp = str(_ram_tmp / "pytest")
    os.environ["TMPDIR"] = str(_ram_tmp)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_FAILED] = exitstatus != 0


def pytest_unconfigure(config: pytest.Config) -> None:
    """Free the memory the run's temporary files took (a failed run's too: none pile up)."""
    if _ram_tmp is None:
        return
    shutil.rmtree(_ram_tmp, ignore_errors=True)
    if config.stash.get(_FAILED, False):
        print("\nTo keep the failed tests' temporary files, run again with --basetemp=<a folder>")


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
