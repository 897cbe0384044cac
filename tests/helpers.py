"""Helpers the tests share."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from flask import Flask
from werkzeug.serving import make_server


@dataclass
class LiveServer:
    """A sandbox served over real HTTP on a free port."""

    app: Flask
    url: str
    session: requests.Session

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.url + path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.url + path, **kwargs)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, self.url + path, **kwargs)

    def trace(self, response: requests.Response) -> dict:
        """Return the record of a response, by its X-Sandbox-Trace header."""
        return self.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").json()


def is_problem(response, status: int) -> dict:
    """Assert a response is an RFC 9457 problem with this status and return its body."""
    assert response.status_code == status, response.text if hasattr(response, "text") else response
    content_type = response.headers["Content-Type"]
    assert content_type.startswith("application/problem+json"), content_type
    body = response.json() if callable(response.json) else response.json
    assert body["status"] == status and body["title"] and body["detail"]
    return body


@contextmanager
def serve(app: Flask) -> Iterator[LiveServer]:
    """Serve an app over real HTTP on 127.0.0.1 and a free port, in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll interval: shutdown() waits for the next poll.
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with requests.Session() as session:
            yield LiveServer(app, f"http://127.0.0.1:{server.server_port}", session)
    finally:
        server.shutdown()
        server.server_close()


ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, timeout: float = 30) -> float:
    """Poll until the URL answers; return how long it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        assert process.poll() is None, process.communicate()
        try:
            requests.get(url, timeout=0.5)
            return time.perf_counter() - started
        except (requests.ConnectionError, requests.Timeout):
            # Timeout: with --workers the port is open before a worker accepts on it.
            time.sleep(0.02)
    raise AssertionError(f"{url} did not answer within {timeout} s")


def start_app(data_dir: Path, *args: str, **popen: object) -> tuple[subprocess.Popen, str]:
    """Start `python app.py` on a data dir and a free port, as a learner does; wait for it."""
    port = free_port()
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port), "--data-dir", str(data_dir), *args],
        cwd=ROOT,
        **popen,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/sandbox/health", process)
    except BaseException:
        process.kill()  # never leave a server (or its pipes) behind a failed start
        process.communicate()
        raise
    return process, f"http://127.0.0.1:{port}"


# --- a real browser: the system's Chromium, driven by Playwright ---

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
CHROMIUM_NOT_FOUND = (
    "Chromium not found: install it (Debian/Ubuntu: sudo apt-get install -y chromium; "
    "elsewhere: python -m playwright install chromium) or set SANDBOX_CHROMIUM to its path"
)


def chromium_path() -> str | None:
    """Return the browser to drive: SANDBOX_CHROMIUM, the system's, or None for Playwright's."""
    if os.environ.get("SANDBOX_CHROMIUM"):
        return os.environ["SANDBOX_CHROMIUM"]
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


# --- class mode: a student who joined, and their workspace ---


@dataclass
class Student:
    """A student of a class server, holding their workspace's URL and token."""

    name: str
    workspace: str
    url: str  # the workspace's base URL, ending in /
    token: str
    session: requests.Session  # sends the workspace's token with every request

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url + path.lstrip("/"), **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def switch(self, module: str, body: dict) -> None:
        response = self.request("PATCH", f"sandbox/modules/{module}", json=body)
        assert response.status_code == 200, response.text


def class_app(data_dir: Path) -> Flask:
    """Return a class server's app on ``data_dir`` (feeds end after 3 s, for quick tests)."""
    from sandbox import create_app

    return create_app(
        {"SANDBOX_DATA_DIR": str(data_dir), "SANDBOX_CLASS_MODE": True, "SANDBOX_STREAM_SECONDS": 3}
    )


def join(room, name: str) -> Student:
    """Join the class served at ``room.url`` (its app is ``room.app``) as ``name``."""
    from sandbox.classroom import join_code

    response = requests.post(
        f"{room.url}/class/join", json={"name": name, "code": join_code(room.app)}, timeout=30
    )
    assert response.status_code == 201, response.text
    data = response.json()
    session = requests.Session()
    session.headers["X-Sandbox-Token"] = data["token"]
    return Student(name, data["workspace"], data["url"], data["token"], session)


def playground_path(rule) -> str:
    """Return a URL for a route, with sample values that answer at once (no waiting)."""
    if rule.endpoint in ("server.delay", "server.drip"):
        return rule.rule.replace("<n>", "0") + "?duration=0"
    values = {
        "n": "2",
        "codes": "200",
        "user": "u",
        "passwd": "p",
        "qop": "auth",
        "algorithm": "MD5",
        "stale_after": "never",
        "value": "aGk=",
        "name": "a",
        "offset": "0",
        "etag": "e",
        "anything": "x/y",
    }
    path = rule.rule
    for arg in rule.arguments:
        path = path.replace(f"<{arg}>", values[arg]).replace(f"<path:{arg}>", values[arg])
    return path
