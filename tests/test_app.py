"""Starting the sandbox from the command line, as a learner does."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys

import pytest
import requests
from helpers import ROOT, start_app


@pytest.fixture
def serve(tmp_path):
    processes = []

    def start(*args: str) -> tuple[subprocess.Popen, str]:
        process, url = start_app(
            tmp_path, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        processes.append(process)
        return process, url

    yield start
    for process in processes:
        process.terminate()
        process.communicate(timeout=5)  # also closes the output pipe


def cli(tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "app.py", "--data-dir", str(tmp_path), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_app_py_serves_on_loopback_and_prints_url_and_modules(serve, tmp_path):
    process, url = serve()
    assert requests.get(url + "/sandbox/health").json()["status"] == "ok"
    assert requests.get(url + "/server/get").json()["url"].startswith(url)
    process.terminate()
    output = process.communicate(timeout=5)[0]
    assert f"Serving on {url}/" in output
    assert "[on ] server" in output
    # Secure by default: not reachable on any other address of this machine.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        assert s.getsockname()[0] == "127.0.0.1"


def test_first_start_makes_a_private_secret_key_and_a_seeded_database(serve, tmp_path):
    serve()
    key = tmp_path / "secret_key"
    assert len(key.read_text()) == 64
    if os.name == "posix":
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    import sqlite3

    conn = sqlite3.connect(tmp_path / "sandbox.db")
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    assert conn.execute("select count(*) from notes").fetchone()[0] == 3
    conn.close()
    tracked = subprocess.run(
        ["git", "check-ignore", "instance/secret_key"], cwd=ROOT, capture_output=True, text=True
    )
    assert tracked.returncode == 0, "instance/ must be ignored by git"


def test_the_secret_key_survives_a_restart_and_reset_keeps_it(tmp_path):
    cli(tmp_path, "modules")
    key = (tmp_path / "secret_key").read_text()
    cli(tmp_path, "--reset", "modules")
    assert (tmp_path / "secret_key").read_text() == key


def test_modules_enable_disable_from_the_command_line(tmp_path):
    listed = cli(tmp_path, "modules")
    assert listed.returncode == 0 and "[on ] server" in listed.stdout
    assert "now off" in cli(tmp_path, "disable", "server").stdout
    assert "[off] server" in cli(tmp_path, "modules").stdout
    assert "now on" in cli(tmp_path, "enable", "server").stdout
    unknown = cli(tmp_path, "enable", "nope")
    assert unknown.returncode != 0 and "Known modules" in unknown.stderr


def test_flask_cli_equivalents(tmp_path):
    env = {**os.environ, "SANDBOX_DATA_DIR": str(tmp_path)}

    def flask(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "now off" in flask("modules", "disable", "server")
    assert "[off] server" in flask("modules", "list")
    assert "now on" in flask("modules", "enable", "server")


def test_reset_flag_wipes_state_and_reseeds(serve, tmp_path):
    cli(tmp_path, "disable", "server")
    _, url = serve("--reset")
    assert requests.get(url + "/server/get").status_code == 200


def test_reset_says_what_it_wiped_and_what_it_kept(tmp_path):
    cli(tmp_path, "modules")
    said = cli(tmp_path, "--reset", "modules").stdout
    assert f"Reset: deleted sandbox.db in {tmp_path.resolve()}" in said
    assert "start again from the seed" in said and "secret key is kept" in said
    assert "nothing to wipe" in cli(tmp_path / "new", "--reset", "modules").stdout
    assert "Reset" not in cli(tmp_path, "modules").stdout


def test_a_misspelled_setting_in_config_py_is_warned_about_with_the_closest_name(tmp_path):
    tmp_path.joinpath("config.py").write_text(
        "SANDBOX_TRACE_LIMT = 50\nSANDBOX_CACHE_TTTL = 5\nSANDBOX_NOTHING_LIKE_IT = 1\n"
        "SANDBOX_THREADS = 8\nSESSION_COOKIE_NAME = 's'\n"
    )
    warned = cli(tmp_path, "modules").stderr
    assert "SANDBOX_TRACE_LIMT" in warned and "did you mean SANDBOX_TRACE_LIMIT?" in warned
    # A module's own settings count as real ones (the caching module's TTL).
    assert "did you mean SANDBOX_CACHE_TTL?" in warned
    assert "SANDBOX_NOTHING_LIKE_IT, which is no setting" in warned
    # Real settings, the sandbox's or Flask's, are not warned about.
    assert "SANDBOX_THREADS" not in warned and "SESSION_COOKIE_NAME" not in warned


def test_a_busy_port_is_a_clear_message(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "app.py", "--port", str(port), "--data-dir", str(tmp_path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode != 0 and f"--port {port + 1}" in result.stderr


def test_the_data_dir_is_private(tmp_path):
    cli(tmp_path / "fresh", "modules")
    if os.name == "posix":
        assert stat.S_IMODE((tmp_path / "fresh").stat().st_mode) == 0o700
