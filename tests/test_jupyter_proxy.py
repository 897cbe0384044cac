"""The sandbox inside JupyterLab, behind a real jupyter-server-proxy, under a prefix.

Each test module run starts `jupyter server` on a free loopback port with a known token, in
a temporary folder and HOME, with the sandbox's entry point from pyproject.toml; every
request then goes over real HTTP through Jupyter, which starts the sandbox on first use and
passes requests on. Twice: at "/" (a JupyterLab of one's own, the sandbox at /sandbox/) and
at "/user/ada/" (a student's server on JupyterHub, the sandbox at /user/ada/sandbox/).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from helpers import CHROMIUM_ARGS, CHROMIUM_NOT_FOUND, ROOT, chromium_path, free_port, wait_for
from playwright.sync_api import Error, expect, sync_playwright

from sandbox.jupyter import NAME, SECRET_HEADER

if sys.version_info >= (3, 11):
    import tomllib
else:  # jupyterlab brings tomli on Python 3.10
    import tomli as tomllib

TOKEN = "test-jupyter-token"
# Jupyter imports a dozen extensions on start: slow on a busy machine.
JUPYTER_START_SECONDS = 120


@dataclass
class Jupyter:
    """A running `jupyter server` and the sandbox behind it."""

    url: str  # Jupyter's base URL: http://127.0.0.1:PORT/ or .../user/ada/
    origin: str  # what a browser on Jupyter's pages sends as Origin
    session: requests.Session  # sends Jupyter's token, as a logged-in browser would
    home: Path
    log: Path
    hub: bool  # set up as a JupyterHub user's server: any Host reaches it (the hub's name)

    @property
    def sandbox(self) -> str:
        """Return the sandbox's root URL, without the trailing slash (a prefix, like url_for's)."""
        return self.url + NAME

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.sandbox + path, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def sandbox_port(self) -> int:
        """Return the port jupyter-server-proxy gave the sandbox (the sandbox prints it)."""
        found = re.findall(r"Serving on http://127\.0\.0\.1:(\d+)/", self.log.read_text())
        assert found, self.log.read_text()
        return int(found[-1])

    def last_activity(self) -> str:
        """Return when Jupyter last saw the user active (what JupyterHub's idle culler reads)."""
        status = self.session.get(self.url + "api/status", params={"no_track_activity": 1})
        return status.json()["last_activity"]


def entry_point_dist(site: Path) -> None:
    """Declare pyproject.toml's jupyter_serverproxy_servers entry point in a dist-info.

    Jupyter finds the entry point through importlib.metadata. This folder comes first on
    PYTHONPATH, so its "sandbox" distribution (this worktree's entry points) is the one seen,
    whatever copy of the package is installed.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    servers = project["entry-points"]["jupyter_serverproxy_servers"]
    dist = site / f"sandbox-{project['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: sandbox\nVersion: {project['version']}\n"
    )
    lines = "".join(f"{name} = {target}\n" for name, target in servers.items())
    (dist / "entry_points.txt").write_text(f"[jupyter_serverproxy_servers]\n{lines}")


@pytest.fixture(scope="module", params=["/", "/user/ada/"], ids=["lab", "hub"])
def jupyter(request, tmp_path_factory) -> Iterator[Jupyter]:
    """Start `jupyter server` with the sandbox's entry point; stop both at the end."""
    base_url = request.param
    hub = base_url != "/"
    tmp = tmp_path_factory.mktemp("jupyter")
    home, root, site = tmp / "home", tmp / "root", tmp / "site"
    home.mkdir()
    root.mkdir()
    entry_point_dist(site)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SANDBOX_", "JUPYTER"))}
    # HOME: Jupyter's config and runtime files, and the sandbox's data in ~/.sandbox, stay here.
    env.update(HOME=str(home), USERPROFILE=str(home), PYTHONPATH=f"{ROOT}{os.pathsep}{site}")
    port = free_port()
    log = tmp / "jupyter.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                "--allow-root",  # containers and CI often run as root
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.base_url={base_url}",
                f"--ServerApp.root_dir={root}",
                f"--IdentityProvider.token={TOKEN}",
                # A hub's user server answers the hub's public name; a laptop's, loopback only.
                f"--ServerApp.allow_remote_access={hub}",
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the sandbox it starts joins it
        )
    origin = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{origin}{base_url}api/status", process, timeout=JUPYTER_START_SECONDS)
        with requests.Session() as session:
            session.headers["Authorization"] = f"token {TOKEN}"
            yield Jupyter(origin + base_url, origin, session, home, log, hub)
    finally:
        started = re.findall(r"Serving on http://127\.0\.0\.1:(\d+)/", log.read_text())
        process.terminate()  # as Ctrl+C, or JupyterHub stopping an idle server, would
        try:
            process.wait(timeout=30)
            stopped = _wait_closed(int(started[-1])) if started else True
        finally:
            with suppress(ProcessLookupError):  # none left: the group is gone
                os.killpg(process.pid, signal.SIGKILL)  # whatever is left, if anything
    assert stopped, "the sandbox kept running after Jupyter stopped"


def _wait_closed(port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=0.5)
        except requests.ConnectionError:
            return True
        time.sleep(0.1)
    return False


class Links(HTMLParser):
    """Collect the URLs a page points at: links and assets, and its data-*-url settings."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []  # href, src, action: what a click or the browser fetches
        self.settings: list[str] = []  # data-*-url: what the page's script calls

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if not value or value.startswith(("#", "data:")):
                continue
            if name in ("href", "src", "action"):
                self.links.append(value.split("#")[0])
            elif name.startswith("data-") and name.endswith(("-url", "-root")):
                self.settings.append(value)


def set_cookies(response: requests.Response) -> list[str]:
    return response.raw.headers.getlist("Set-Cookie")


# --- the launcher ---


def test_launcher_offers_backend_sandbox_at_the_prefix(jupyter):
    servers = jupyter.session.get(jupyter.url + "server-proxy/servers-info").json()
    (entry,) = [s for s in servers["server_processes"] if s["name"] == NAME]
    assert entry["launcher_entry"]["title"] == "Backend sandbox"
    assert entry["launcher_entry"]["path_info"] == "sandbox/"
    icon = jupyter.session.get(urljoin(jupyter.url, entry["launcher_entry"]["icon_url"]))
    assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg+xml")


def test_sandbox_keeps_its_data_in_home_dot_sandbox(jupyter):
    assert jupyter.get("/sandbox/health").json()["status"] == "ok"
    data = jupyter.home / ".sandbox"
    assert (data / "secret_key").is_file()
    assert data.stat().st_mode & 0o077 == 0  # the owner's alone


# --- every page, link, asset and redirect under the prefix ---


def open_when_off() -> set[str]:
    """Return the paths of the pages a module serves while it is off (its works_when_off)."""
    from flask import Flask

    from sandbox.registry import load_modules

    app = Flask(__name__)
    for module in load_modules():
        for blueprint in module.works_when_off:
            app.register_blueprint(blueprint)
    return {rule.rule for rule in app.url_map.iter_rules() if not rule.arguments}


def test_landing_page_links_and_assets_carry_the_prefix_and_answer(jupyter):
    page = jupyter.get("/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    prefix = urlsplit(jupyter.sandbox).path  # "/sandbox" or "/user/ada/sandbox"
    found = Links()
    found.feed(page.text)
    links = set(found.links)
    assert len(links) > 15 and len(found.settings) > 5, found.links  # the page was parsed
    for url in sorted(links | set(found.settings)):
        assert url == prefix or url.startswith(prefix + "/"), f"{url} leaves {prefix}/"
    assert {f"{prefix}/static/sandbox.css", f"{prefix}/static/sandbox.js"} <= links
    modules = jupyter.get("/sandbox/health").json()["modules"]
    for url in sorted(links):
        answer = jupyter.session.get(jupyter.origin + url, timeout=30)
        assert urlsplit(answer.url).path.startswith(prefix + "/"), (url, answer.url)
        section = url[len(prefix) :].split("/")[1]
        if modules.get(section) is False and url[len(prefix) :] in open_when_off():
            assert answer.status_code == 200, url  # answers off too (the log viewer says so)
        elif modules.get(section) is False:  # a page of a module that starts off says so
            assert answer.status_code == 404, url
            assert f"Module '{section}' is off" in answer.json()["detail"]
        else:
            assert answer.status_code == 200, (url, answer.status_code)


def test_redirects_stay_under_the_prefix(jupyter):
    prefix = urlsplit(jupyter.sandbox).path
    first = jupyter.get("/server/redirect/2", allow_redirects=False)
    assert first.status_code == 302
    assert first.headers["Location"] == f"{prefix}/server/relative-redirect/1"  # not doubled
    absolute = jupyter.get("/server/absolute-redirect/1", allow_redirects=False)
    assert absolute.headers["Location"] == jupyter.sandbox + "/server/get"  # Jupyter's host
    final = jupyter.get("/server/redirect/2")
    assert [r.status_code for r in final.history] == [302, 302]
    assert final.status_code == 200 and final.url == jupyter.sandbox + "/server/get"
    # The playground sees the URL the client used: Jupyter's host, the full prefix.
    assert final.json()["url"] == jupyter.sandbox + "/server/get"


# --- the landing page's switch, through Jupyter, and the record of it ---


def test_switch_from_the_landing_page_works_and_is_recorded(jupyter):
    same_origin = {"Origin": jupyter.origin, "Sec-Fetch-Site": "same-origin"}
    off = jupyter.request(
        "PATCH", "/sandbox/modules/server", json={"enabled": False}, headers=same_origin
    )
    assert off.status_code == 200, off.text
    try:
        assert jupyter.get("/server/get").status_code == 404
        assert jupyter.get("/sandbox/health").json()["modules"]["server"] is False
    finally:
        on = jupyter.request(
            "PATCH", "/sandbox/modules/server", json={"enabled": True}, headers=same_origin
        )
        assert on.status_code == 200
    assert jupyter.get("/server/get").status_code == 200

    record = jupyter.get(f"/sandbox/traces/{off.headers['X-Sandbox-Trace']}").json()
    assert (record["method"], record["path"], record["status"]) == (
        "PATCH",
        "/sandbox/modules/server",
        200,
    )
    headers = {k.lower(): v for k, v in record["request"]["headers"].items()}
    assert headers["host"] == urlsplit(jupyter.origin).netloc
    assert headers["authorization"] == "token [redacted]"  # Jupyter's token stays out
    assert SECRET_HEADER.lower() not in headers  # the proxy's secret never reaches a record
    assert TOKEN not in str(record)


def test_a_page_on_another_site_cannot_switch_through_jupyter(jupyter):
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = jupyter.request(
            "PATCH", "/sandbox/modules/server", json={"enabled": False}, headers=headers
        )
        assert refused.status_code == 403
        assert refused.json()["title"] == "Cross-site request refused"
    assert jupyter.get("/sandbox/health").json()["modules"]["server"] is True


def test_behind_https_the_browser_origin_is_https(jupyter):
    # JupyterHub behind TLS: its proxy says so in X-Forwarded-Proto, which Jupyter passes on.
    https = {"X-Forwarded-Proto": "https", "Origin": jupyter.origin.replace("http:", "https:")}
    for enabled in (False, True):
        switched = jupyter.request(
            "PATCH", "/sandbox/modules/server", json={"enabled": enabled}, headers=https
        )
        assert switched.status_code == 200, switched.text
    seen = jupyter.get("/server/get", headers={"X-Forwarded-Proto": "https"}).json()["url"]
    assert seen == jupyter.sandbox.replace("http:", "https:") + "/server/get"
    # The scheme counts: an http page is another origin than the https site.
    plain = {"X-Forwarded-Proto": "https", "Origin": jupyter.origin}
    refused = jupyter.request(
        "PATCH", "/sandbox/modules/server", json={"enabled": False}, headers=plain
    )
    assert refused.status_code == 403


def test_the_hub_public_name_reaches_the_sandbox_and_a_rebound_name_does_not(jupyter):
    prefix = urlsplit(jupyter.sandbox).path
    hub = {"Host": "hub.example.edu", "X-Forwarded-Proto": "https"}
    if not jupyter.hub:
        # A laptop's JupyterLab refuses a name it does not know (a page that re-points
        # evil.example at 127.0.0.1), before anything reaches the sandbox.
        refused = jupyter.get("/sandbox/health", headers={"Host": "evil.example"})
        assert refused.status_code == 403 and "X-Sandbox-Trace" not in refused.headers
        return
    # A hub's user server: the browser names the hub; Jupyter has checked who is asking.
    seen = jupyter.get("/server/get", headers=hub).json()["url"]
    assert seen == f"https://hub.example.edu{prefix}/server/get"
    moved = jupyter.get("/server/absolute-redirect/1", headers=hub, allow_redirects=False)
    assert moved.headers["Location"] == f"https://hub.example.edu{prefix}/server/get"
    from_hub = {**hub, "Origin": "https://hub.example.edu"}
    for enabled in (False, True):
        switched = jupyter.request(
            "PATCH", "/sandbox/modules/server", json={"enabled": enabled}, headers=from_hub
        )
        assert switched.status_code == 200, switched.text
    elsewhere = {**hub, "Origin": "https://evil.example"}
    refused = jupyter.request(
        "PATCH", "/sandbox/modules/server", json={"enabled": False}, headers=elsewhere
    )
    assert refused.status_code == 403


# --- the sandbox's own port answers only Jupyter's proxy ---


def test_the_sandbox_port_refuses_whoever_skips_jupyter(jupyter):
    direct = f"http://127.0.0.1:{jupyter.sandbox_port()}"
    prefix = urlsplit(jupyter.sandbox).path
    before = {r["id"] for r in jupyter.get("/sandbox/traces").json()["traces"]}
    attempts = [
        # Another program on this machine (another user's, on a shared hub server).
        ("GET", f"{direct}{prefix}/sandbox/health", {}),
        ("GET", f"{direct}/sandbox/health", {}),
        ("PATCH", f"{direct}{prefix}/sandbox/modules/server", {}),
        # ...that guesses the proxy's header, or claims to be a proxy.
        ("GET", f"{direct}{prefix}/sandbox/health", {SECRET_HEADER: "guess"}),
        ("GET", f"{direct}/sandbox/health", {"X-Forwarded-Prefix": prefix}),
        # A page that re-points its own name at 127.0.0.1 (DNS rebinding).
        ("GET", f"{direct}{prefix}/", {"Host": "evil.example"}),
    ]
    for method, url, headers in attempts:
        answer = requests.request(method, url, headers=headers, json={"enabled": False})
        assert answer.status_code == 403, (method, url, headers)
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        assert answer.json()["title"] == "Not through JupyterLab"
        assert "launcher" in answer.json()["detail"]
    assert jupyter.get("/sandbox/health").json()["modules"]["server"] is True
    # Refused before the app ran: the learner's records hold only their own requests.
    after = jupyter.get("/sandbox/traces").json()["traces"]
    assert [r["path"] for r in after if r["id"] not in before] == ["/sandbox/health"]


def test_a_secret_sent_by_the_client_is_replaced_by_the_proxy(jupyter):
    # Jupyter writes its own value over whatever the client sent: a guess changes nothing.
    answer = jupyter.get("/sandbox/health", headers={SECRET_HEADER: "guess"})
    assert answer.status_code == 200


# --- the origin is Jupyter's: the sandbox keeps to its prefix ---


def test_cookies_stay_under_the_prefix(jupyter):
    prefix = urlsplit(jupyter.sandbox).path
    # A link anywhere could ask the playground to plant a cookie on Jupyter's whole origin.
    planted = jupyter.get(
        "/server/response-headers",
        params=[("Set-Cookie", "_xsrf=planted; Path=/"), ("Set-Cookie", "theme=dark")],
    )
    assert planted.status_code == 200
    cookies = [c for c in set_cookies(planted) if not c.startswith("username-")]  # Jupyter's
    assert sorted(cookies) == ["_xsrf=planted; Path=" + prefix + "/", "theme=dark"]
    wiped = jupyter.get("/server/response-headers", params={"Clear-Site-Data": '"storage"'})
    assert wiped.status_code == 200 and "Clear-Site-Data" not in wiped.headers
    # The sandbox's own session cookie (a form's CSRF token) belongs to the sandbox alone.
    form = jupyter.get("/notes/new")
    (session,) = [c for c in set_cookies(form) if c.startswith("session=")]
    assert f"Path={prefix};" in session or session.endswith(f"Path={prefix}")


# --- JupyterHub's idle culler still sees an idle student ---


def test_an_open_live_feed_is_not_activity_but_requests_are(jupyter):
    with jupyter.get(
        "/sandbox/traces/stream", headers={"Accept": "text/event-stream"}, stream=True
    ) as feed:
        lines = feed.iter_lines(decode_unicode=True)
        assert next(lines) == "retry: 1000"  # streamed through Jupyter as it comes
        before = jupyter.last_activity()
        health = jupyter.get("/sandbox/health")
        assert jupyter.last_activity() > before  # a request is activity
        # The feed is live through Jupyter: the request's record arrives while it is open.
        trace = health.headers["X-Sandbox-Trace"]
        assert any(line.startswith("data:") and trace in line for line in lines)
        quiet = jupyter.last_activity()
        # Then nothing happens but the feed's keep-alive line, 15 s on: a tab left open.
        assert next(line for line in lines if line) == ": keep-alive"
        assert jupyter.last_activity() == quiet  # idle, as the hub's culler should see it


# --- a real browser on the landing page, through Jupyter ---


def test_landing_page_in_chromium_through_jupyter(jupyter):
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
            )
        except Error as error:
            pytest.fail(f"{CHROMIUM_NOT_FOUND}\n({error.message.splitlines()[0]})")
        try:
            context = browser.new_context(reduced_motion="reduce")
            page = context.new_page()
            page.set_default_timeout(15_000)
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(f"JavaScript: {error}"))
            page.on(
                "console",
                lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            # The way a student arrives: Jupyter's token once in the URL, then its cookie.
            page.goto(f"{jupyter.sandbox}/?token={TOKEN}")
            expect(page.locator("[data-live]")).to_have_attribute("data-live", "on")
            card = page.locator('[data-module="server"]')
            switch = page.get_by_role("switch", name="server module")
            expect(switch).to_be_checked()
            switch.uncheck()  # a PATCH from the page: Jupyter's origin, Jupyter's cookie
            expect(card).to_have_attribute("data-enabled", "false")
            assert jupyter.get("/sandbox/health").json()["modules"]["server"] is False
            switch.check()
            expect(card).to_have_attribute("data-enabled", "true")
            # The page's own feed shows a request made elsewhere, live.
            jupyter.get("/server/get?from=elsewhere")
            expect(page.locator("[data-trace-rows]")).to_contain_text("/server/get")
            context.close()
        finally:
            browser.close()
    assert not problems, problems
