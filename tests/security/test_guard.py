"""Other websites, rebinding host names and strangers on the network cannot drive the sandbox.

Everything here runs against ``python app.py`` (waitress, as a learner starts it) or, for
the browser attacks, against real Chromium with a second site served beside the sandbox.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from helpers import (
    CHROMIUM_ARGS,
    CHROMIUM_NOT_FOUND,
    chromium_path,
    free_port,
    is_problem,
    start_app,
)
from playwright.sync_api import Error, expect, sync_playwright

from sandbox import Sandbox

EVIL = "http://evil.example"
SCREENSHOTS = Path(__file__).parent.parent / "screenshots"


@pytest.fixture(scope="module")
def sandbox_url(tmp_path_factory) -> Iterator[str]:
    """A real `python app.py` on loopback, as a learner runs it."""
    process, url = start_app(tmp_path_factory.mktemp("guard") / "data")
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def note_count(url: str) -> int:
    return requests.get(f"{url}/api/notes", timeout=5).json()["total"]


# Every state-changing route a cross-site page could aim at, with a body it would accept
# from the sandbox's own pages.
STATE_CHANGES = [
    ("POST", "/sandbox/reset", None),
    ("PATCH", "/sandbox/modules/database", {"enabled": False}),
    ("POST", "/sandbox/sql", {"sql": "select 1"}),
    ("POST", "/api/notes", {"title": "planted"}),
    ("PUT", "/api/notes/1", {"title": "changed"}),
    ("PATCH", "/api/notes/1", {"title": "changed"}),
    ("DELETE", "/api/notes/1", None),
    ("POST", "/auth/register", {"username": "mallory", "password": "correct horse battery"}),
    ("POST", "/auth/login", {"username": "mallory", "password": "correct horse battery"}),
    ("POST", "/auth/logout", None),
    ("POST", "/encryption/rotate", None),
    ("POST", "/encryption/demo", {"text": "x"}),
]


@pytest.mark.parametrize(
    "headers",
    [{"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["foreign-origin", "null-origin", "sec-fetch-site"],
)
@pytest.mark.parametrize(
    ("method", "path", "body"), STATE_CHANGES, ids=[f"{m} {p}" for m, p, _ in STATE_CHANGES]
)
def test_a_state_change_from_another_site_is_refused(sandbox_url, method, path, body, headers):
    before = note_count(sandbox_url)
    response = requests.request(method, sandbox_url + path, json=body, headers=headers, timeout=5)
    problem = is_problem(response, 403)
    assert "another website" in problem["detail"]
    assert "cross-site request forgery" in problem["detail"]
    assert note_count(sandbox_url) == before


def test_the_refusal_is_in_the_record(sandbox_url):
    response = requests.post(f"{sandbox_url}/sandbox/reset", headers={"Origin": EVIL}, timeout=5)
    record = requests.get(
        f"{sandbox_url}/sandbox/traces/{response.headers['X-Sandbox-Trace']}", timeout=5
    ).json()
    assert any(e.get("decision") == "cross-site" for e in record["events"])


def test_same_origin_and_tools_without_origin_pass(sandbox_url):
    # The sandbox's own pages send their own origin; curl, requests and notebooks send none.
    own = requests.post(
        f"{sandbox_url}/sandbox/sql",
        json={"sql": "select 1"},
        headers={"Origin": sandbox_url, "Sec-Fetch-Site": "same-origin"},
        timeout=5,
    )
    assert own.status_code == 200
    assert requests.post(f"{sandbox_url}/sandbox/sql", json={"sql": "select 1"}).ok


def test_the_playground_answers_any_website_like_httpbin(sandbox_url):
    response = requests.post(
        f"{sandbox_url}/server/post", json={"a": 1}, headers={"Origin": EVIL}, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["json"] == {"a": 1}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sandbox/sql", '{"sql": "select 1"}'),
        ("/api/notes", '{"title": "planted"}'),
        ("/sandbox/modules/server", '{"enabled": false}'),
    ],
)
def test_json_endpoints_take_json_only(sandbox_url, path, body):
    # A form can send any text with enctype="text/plain" and no CORS preflight: the trick
    # that makes a cross-site form post JSON-looking bodies. It is not JSON, so it is refused.
    method = "PATCH" if "/modules/" in path else "POST"
    response = requests.request(
        method, sandbox_url + path, data=body, headers={"Content-Type": "text/plain"}, timeout=5
    )
    problem = is_problem(response, 415)
    assert "application/json" in problem["detail"]


@pytest.mark.parametrize(
    "host", ["rebind.attacker.example", "rebind.attacker.example:5000", "127.0.0.1.nip.io"]
)
def test_an_unknown_host_is_refused(sandbox_url, host):
    # What a DNS-rebinding page makes the browser send: its own name, pointed at 127.0.0.1.
    for method, path, body in [("GET", "/", None), ("POST", "/sandbox/sql", {"sql": "select 1"})]:
        response = requests.request(
            method, sandbox_url + path, json=body, headers={"Host": host}, timeout=5
        )
        problem = is_problem(response, 400)
        assert problem["title"] == "Unknown host"
        assert "SANDBOX_ALLOWED_HOSTS" in problem["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "LOCALHOST"])
def test_the_names_of_this_computer_are_answered(sandbox_url, host):
    port = sandbox_url.rsplit(":", 1)[1]
    response = requests.get(
        f"{sandbox_url}/sandbox/health", headers={"Host": f"{host}:{port}"}, timeout=5
    )
    assert response.status_code == 200


def test_extra_host_names_come_from_a_setting(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.py").write_text('SANDBOX_ALLOWED_HOSTS = ["sandbox.lab"]\n')
    process, url = start_app(data)
    try:
        ok = requests.get(f"{url}/sandbox/health", headers={"Host": "sandbox.lab"}, timeout=5)
        other = requests.get(f"{url}/sandbox/health", headers={"Host": "other.lab"}, timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert ok.status_code == 200
    is_problem(other, 400)


# --- beyond loopback: the operator token ---


@pytest.fixture(scope="module")
def open_sandbox(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """`python app.py --host 0.0.0.0`, and the token URL it prints."""
    process, url = start_app(
        tmp_path_factory.mktemp("open") / "data",
        "--host",
        "0.0.0.0",
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        printed = ""
        for line in process.stdout:
            printed += line
            if line.startswith("Serving on"):
                break
        token_url = printed.split("Serving on ", 1)[1].split()[0]
        assert "?token=" in token_url, printed
        assert "anyone on your network" in printed
        yield url, token_url.split("?token=", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()


CONTROL_PLANE = [
    ("GET", "/sandbox/modules", None),
    ("PATCH", "/sandbox/modules/server", {"enabled": False}),
    ("POST", "/sandbox/reset", None),
    ("POST", "/sandbox/sql", {"sql": "select * from users"}),
    ("GET", "/sandbox/traces", None),
    ("GET", "/sandbox/traces/stream", None),
    ("GET", "/sandbox/progress", None),
    ("GET", "/sandbox/settings", None),
    ("POST", "/encryption/rotate", None),
]


@pytest.mark.parametrize(("method", "path", "body"), CONTROL_PLANE)
def test_beyond_loopback_the_control_plane_needs_the_token(open_sandbox, method, path, body):
    url, token = open_sandbox
    for headers in ({}, {"X-Sandbox-Token": "wrong"}, {"X-Sandbox-Token": token[:-1]}):
        response = requests.request(
            method, url + path, json=body, headers=headers, timeout=5, stream=True
        )
        problem = is_problem(response, 401)
        assert "operator token" in problem["detail"]
        assert token not in response.text


def test_the_token_opens_the_control_plane_by_header_and_once_by_url(open_sandbox):
    url, token = open_sandbox
    ok = requests.get(f"{url}/sandbox/modules", headers={"X-Sandbox-Token": token}, timeout=5)
    assert ok.status_code == 200
    with requests.Session() as browser:
        # The printed URL: the token moves into an HttpOnly cookie and out of the address bar.
        landing = browser.get(f"{url}/?token={token}", timeout=5)
        assert landing.status_code == 200 and landing.url == f"{url}/"
        cookie = landing.history[0].headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get(f"{url}/sandbox/modules", timeout=5).status_code == 200
        # The record of that first request keeps no token: not in the query, not anywhere.
        trace = landing.history[0].headers["X-Sandbox-Trace"]
        record = browser.get(f"{url}/sandbox/traces/{trace}", timeout=5)
        assert record.ok and token not in record.text
        settings = browser.get(f"{url}/sandbox/settings", timeout=5)
        assert token not in settings.text


def test_beyond_loopback_the_rest_stays_open(open_sandbox):
    url, _ = open_sandbox
    assert requests.get(f"{url}/sandbox/health", timeout=5).status_code == 200
    assert requests.get(f"{url}/api/notes", timeout=5).status_code == 200
    assert requests.get(f"{url}/server/get", timeout=5).status_code == 200
    assert requests.get(f"{url}/", timeout=5).status_code == 200


def test_a_notebook_connects_with_the_printed_url(open_sandbox):
    url, token = open_sandbox
    with Sandbox.connect(f"{url}/?token={token}") as sb:
        assert "server" in [m["name"] for m in sb.modules]
        assert sb.sql("select 1 as one") == [{"one": 1}]
    with Sandbox.connect(url, token=token) as sb:
        assert sb.progress() is not None


def test_on_loopback_no_token_is_asked(sandbox_url):
    assert requests.get(f"{sandbox_url}/sandbox/modules", timeout=5).status_code == 200


# --- the same attacks from a real browser ---


class _EvilSite(BaseHTTPRequestHandler):
    """A page on another site that attacks the sandbox as soon as it loads."""

    page = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = self.page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def browser_for(request):
    """Chromium that resolves the given fake names to 127.0.0.1 (no DNS needed)."""
    opened = []

    def launch(*names: str):
        rules = ",".join(f"MAP {name} 127.0.0.1" for name in names)
        playwright = sync_playwright().start()
        opened.append(playwright)
        try:
            return playwright.chromium.launch(
                executable_path=chromium_path(),
                headless=True,
                args=[*CHROMIUM_ARGS, *([f"--host-resolver-rules={rules}"] if rules else [])],
            )
        except Error as error:
            pytest.fail(f"{CHROMIUM_NOT_FOUND}\n({error.message.splitlines()[0]})", False)

    yield launch
    for playwright in opened:
        playwright.stop()


def serve_page(html: str) -> tuple[ThreadingHTTPServer, int]:
    handler = type("Page", (_EvilSite,), {"page": html})
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def test_another_site_in_the_browser_cannot_reset_or_switch(sandbox_url, browser_for):
    # The learner's sandbox has a note they care about and the server module on.
    requests.post(f"{sandbox_url}/api/notes", json={"title": "my homework"}, timeout=5)
    before = note_count(sandbox_url)
    attack = f"""<!doctype html><body>
      <form id=f method=post action="{sandbox_url}/sandbox/reset"></form>
      <iframe name=sink></iframe>
      <script>
        // A fetch the browser sends without asking (no-cors): the classic blind CSRF.
        fetch("{sandbox_url}/sandbox/modules/server", {{method: "PATCH", mode: "no-cors",
          headers: {{"Content-Type": "text/plain"}}, body: '{{"enabled": false}}'}})
          .finally(() => {{ document.getElementById("f").target = "sink";
                            document.getElementById("f").submit(); }});
      </script></body>"""
    server, port = serve_page(attack)
    try:
        browser = browser_for("evil.example")
        page = browser.new_page()
        with page.expect_response(lambda r: r.url.endswith("/sandbox/reset")) as reset:
            page.goto(f"http://evil.example:{port}/")
        assert reset.value.status == 403
        browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert note_count(sandbox_url) == before
    modules = requests.get(f"{sandbox_url}/sandbox/modules", timeout=5).json()["modules"]
    assert next(m for m in modules if m["name"] == "server")["enabled"] is True


def test_a_rebinding_page_cannot_read_or_drive_the_sandbox(sandbox_url, browser_for):
    # The attacker's name now resolves to 127.0.0.1: to the browser, the sandbox *is* the
    # attacker's site, same origin and all. Only the Host header gives it away.
    port = sandbox_url.rsplit(":", 1)[1]
    browser = browser_for("rebind.attacker.example")
    page = browser.new_page()
    answer = page.goto(f"http://rebind.attacker.example:{port}/")
    assert answer.status == 400
    result = page.evaluate(
        """async () => {
            const r = await fetch("/sandbox/sql", {method: "POST",
              headers: {"Content-Type": "application/json"},
              body: JSON.stringify({sql: "select * from notes"})});
            return {status: r.status, text: await r.text()};
        }"""
    )
    browser.close()
    assert result["status"] == 400
    assert "Unknown host" in result["text"] and "homework" not in result["text"]


def test_a_browser_with_the_printed_url_switches_modules_beyond_loopback(open_sandbox, browser_for):
    url, token = open_sandbox
    browser = browser_for()
    page = browser.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{url}/")  # without the token: the page says what to do
    assert "operator token" in page.locator("[data-locked-notice]").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "operator-token-missing.png"))
    page.goto(f"{url}/?token={token}")  # the URL python app.py printed
    assert page.url == f"{url}/"  # the token left the address bar
    assert page.locator("[data-locked-notice]").count() == 0
    card = page.locator('[data-module="database"]')
    expect(card).to_have_attribute("data-enabled", "true")
    switch = page.get_by_role("switch", name="database module")
    switch.uncheck()
    expect(card).to_have_attribute("data-enabled", "false")
    switch.check()
    expect(card).to_have_attribute("data-enabled", "true")
    page.screenshot(path=str(SCREENSHOTS / "operator-token.png"), full_page=False)
    browser.close()
