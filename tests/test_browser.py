"""The landing page in a real browser: switches, the live request feed, progress.

Runs Chromium headless through Playwright against a live server in a thread. The
browser is the one in SANDBOX_CHROMIUM, else the system's /usr/bin/chromium, else
the one Playwright installs itself. Screenshots land in tests/screenshots/.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from helpers import serve
from playwright.sync_api import Browser, Page, expect
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

import sandbox.pages
from sandbox import create_app

SCREENSHOTS = Path(__file__).parent / "screenshots"


@contextmanager
def open_page(browser: Browser | str, url: str, width: int = 1280) -> Iterator[Page]:
    """Open a fresh tab on a page of the live server; fail on any JavaScript error."""
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    # Reduced motion: no transitions, so a screenshot never catches a switch mid-slide.
    context = browser.new_context(viewport={"width": width, "height": 900}, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        yield page
        assert not errors, f"JavaScript errors on the page: {errors}"
    finally:
        context.close()  # before the live server stops: it ends the page's live feed


def screenshot(page: Page, name: str, **kwargs) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    if kwargs.get("full_page"):
        page.evaluate("window.scrollTo(0, 0)")  # or the sticky header is drawn mid-page
    page.screenshot(path=SCREENSHOTS / f"{name}.png", **kwargs)


def wait_live(page: Page) -> None:
    """Wait until the live feed is connected, so what happens next arrives through it."""
    expect(page.locator("[data-live]")).to_have_attribute("data-live", "on")


def test_switch_turns_a_module_off_and_on(browser, live):
    with open_page(browser, live.url + "/") as page:
        card = page.locator('[data-module="server"]')
        switch = page.get_by_role("switch", name="server module")
        expect(switch).to_be_checked()
        screenshot(page, "index", full_page=True)
        card.screenshot(path=SCREENSHOTS / "module-card.png")

        switch.uncheck()
        expect(card).to_have_attribute("data-enabled", "false")
        expect(card.locator("[data-state]")).to_have_text("Off")
        screenshot(page, "module-off")

        response = live.get("/server/get")
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.json()["module"] == "server"
        assert "Module 'server' is off" in response.json()["detail"]

        switch.check()
        expect(card).to_have_attribute("data-enabled", "true")
        expect(card.locator("[data-state]")).to_have_text("On")
        assert live.get("/server/get").status_code == 200


def test_switch_reverts_and_explains_when_the_api_refuses(browser, live):
    def refuse(route):
        route.fulfill(
            status=422,
            content_type="application/problem+json",
            body='{"title": "Validation failed", "detail": "Nope: try again later."}',
        )

    with open_page(browser, live.url + "/") as page:
        page.route(re.compile(r".*/sandbox/modules/server$"), refuse)
        switch = page.get_by_role("switch", name="server module")
        switch.click()
        card = page.locator('[data-module="server"]')
        expect(card.get_by_role("alert")).to_contain_text("Nope: try again later.")
        expect(switch).to_be_checked()
        expect(card).to_have_attribute("data-enabled", "true")
        card.screenshot(path=SCREENSHOTS / "module-error.png")


def test_switch_follows_a_change_made_elsewhere(browser, live):
    with open_page(browser, live.url + "/") as page:
        wait_live(page)
        card = page.locator('[data-module="server"]')
        # What a notebook's sb.disable("server") sends: the page hears of it on the live feed.
        live.request("PATCH", "/sandbox/modules/server", json={"enabled": False})
        expect(card).to_have_attribute("data-enabled", "false")
        expect(page.get_by_role("switch", name="server module")).not_to_be_checked()


def test_requests_and_challenges_arrive_live(browser, live):
    with open_page(browser, live.url + "/") as page:
        wait_live(page)
        teapot = page.locator('[data-challenge="server.teapot"]')
        expect(teapot).to_have_attribute("data-solved", "false")

        assert live.get("/server/status/418").status_code == 418
        row = page.locator("tr.trace", has=page.locator("td", has_text="418"))
        expect(row).to_have_count(1)
        expect(row).to_contain_text("/server/status/418")
        expect(row.locator(".status")).to_have_class(re.compile(r"status-4xx"))
        expect(teapot).to_have_attribute("data-solved", "true")
        expect(page.locator(".toast")).to_contain_text("Challenge solved: Get a 418 I'm a teapot")
        expect(page.locator("[data-progress-count]")).to_contain_text("1 of")

        row.click()
        details = page.locator("tr.trace-details")
        expect(details).to_contain_text("Request")
        expect(details).to_contain_text("User-Agent")
        expect(details).to_contain_text("challenge solved")
        expect(row).to_have_attribute("aria-expanded", "true")
        page.locator("#requests").screenshot(path=SCREENSHOTS / "record.png")
        page.locator("#settings summary").click()
        expect(page.locator("[data-settings]")).to_contain_text("SANDBOX_TRACE_LIMIT")
        screenshot(page, "requests", full_page=True)

        row.click()
        expect(details).to_have_count(0)


def test_reset_puts_progress_back(browser, live):
    with open_page(browser, live.url + "/") as page:
        wait_live(page)
        live.get("/server/status/418")
        teapot = page.locator('[data-challenge="server.teapot"]')
        expect(teapot).to_have_attribute("data-solved", "true")
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Reset the sandbox").click()
        expect(teapot).to_have_attribute("data-solved", "false")
        expect(page.locator("tr.trace", has_text="/server/status/418")).to_have_count(0)


def test_request_data_is_shown_as_text(browser, live):
    with open_page(browser, live.url + "/") as page:
        wait_live(page)
        live.get("/nothing/<img src=x onerror=document.title='owned'>")
        row = page.locator("tr.trace", has_text="<img src=x")
        expect(row).to_have_count(1)
        row.click()
        expect(page.locator("tr.trace-details")).to_contain_text("Events")
        expect(page.locator("#requests img")).to_have_count(0)
        assert page.title() != "owned"


def test_narrow_screen(browser, live):
    with open_page(browser, live.url + "/") as page:
        page.set_viewport_size({"width": 390, "height": 844})
        wait_live(page)
        live.get("/server/get")
        expect(page.locator("tr.trace", has_text="/server/get")).to_have_count(1)
        screenshot(page, "narrow", full_page=True)
        page.locator("#requests").screenshot(path=SCREENSHOTS / "narrow-requests.png")


@pytest.fixture
def prefixed(app) -> Iterator[str]:
    """Serve the app under /user/alice/proxy/5000/, as JupyterHub's proxy does; yield its URL."""
    prefix = "/user/alice/proxy/5000"
    server = make_server(
        "127.0.0.1", 0, DispatcherMiddleware(NotFound(), {prefix: app}), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}{prefix}"
    server.shutdown()
    server.server_close()


def test_page_works_under_a_prefix(browser, prefixed):
    with open_page(browser, prefixed + "/") as page:
        wait_live(page)
        switch = page.get_by_role("switch", name="server module")
        switch.uncheck()
        expect(page.locator('[data-module="server"]')).to_have_attribute("data-enabled", "false")
        assert requests.get(prefixed + "/server/get", timeout=5).status_code == 404
        switch.check()
        expect(page.locator('[data-module="server"]')).to_have_attribute("data-enabled", "true")
        requests.get(prefixed + "/server/status/418", timeout=5)
        row = page.locator("tr.trace", has_text="/server/status/418")
        row.click()
        expect(page.locator("tr.trace-details")).to_contain_text("challenge solved")
        expect(page.locator('[data-challenge="server.teapot"]')).to_have_attribute(
            "data-solved", "true"
        )


def test_source_and_error_pages(browser, live):
    with open_page(browser, live.url + "/modules/server/source") as page:
        expect(page.locator(".highlighttable").first).to_be_visible()
        screenshot(page, "source")
        page.goto(live.url + "/lessons/nothing-here")
        expect(page.locator("h1")).to_have_text("Not found")
        screenshot(page, "error")


LESSON = """# Server: routes, requests and responses

A web server reads a **request** and answers with a **response**. Try `GET /server/get`.

## Send a request

```bash
curl -i http://127.0.0.1:5000/server/get
```

```python
import requests
print(requests.get(url).json())
```

> A module that is off answers 404.

| Status | Meaning |
|--------|---------|
| 200 | OK |
| 418 | I'm a teapot |
"""


def test_lesson_page(browser, live, tmp_path, monkeypatch):
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "server.md").write_text(LESSON, encoding="utf-8")
    monkeypatch.setattr(sandbox.pages, "LESSONS_DIR", tmp_path / "lessons")
    with open_page(browser, live.url + "/") as page:
        page.locator('[data-module="server"]').get_by_role("link", name="Lesson").click()
        expect(page.locator("article.lesson h1")).to_have_text(
            "Server: routes, requests and responses"
        )
        expect(page.locator("article.lesson .codehilite").first).to_be_visible()
        screenshot(page, "lesson", full_page=True)


def test_a_learner_signs_up_and_writes_a_note_with_auth_on(browser, live):
    live.request("PATCH", "/sandbox/modules/auth", json={"enabled": True})
    with open_page(browser, live.url + "/notes/") as page:
        expect(page).to_have_url(re.compile(r"/auth/login\?next="))  # sent to log in first
        page.get_by_role("link", name="Make one").click()
        page.fill("#username", "ada")
        page.fill("#password", "password")  # on the common-password list
        page.get_by_role("button", name="Make the account").click()
        expect(page.locator("body")).to_contain_text("common")
        page.fill("#password", "analytical engine 1843")
        page.get_by_role("button", name="Make the account").click()
        page.goto(live.url + "/notes/new")
        page.fill("#title", "Bernoulli numbers")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("body")).to_contain_text("Created.")
        page.goto(live.url + "/notes/")
        expect(page.locator("ul.notes")).to_contain_text("Bernoulli numbers")
        expect(page.locator(".identity")).to_contain_text("Signed in as ada")
        screenshot(page, "notes-with-auth")
    # Another visitor (no cookie) sees nothing of Ada's: the API asks who they are.
    assert live.get("/api/notes").status_code == 401


def test_what_happens_while_the_feed_reconnects_still_arrives(browser, tmp_path):
    """The server ends each feed after SANDBOX_STREAM_SECONDS and the browser reconnects a
    second later: a challenge solved in that second arrives with the reconnection (the
    browser sends Last-Event-ID and the server replays what came since)."""
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path), "SANDBOX_STREAM_SECONDS": 2})
    with serve(app) as live, open_page(browser, live.url + "/") as page:
        wait_live(page)
        teapot = page.locator('[data-challenge="server.teapot"]')
        expect(teapot).to_have_attribute("data-solved", "false")
        # The feed ends: the page says it is reconnecting, and nothing is listening now.
        expect(page.locator("[data-live]")).to_have_attribute(
            "data-live", "connecting", timeout=5_000
        )
        assert live.get("/server/status/418").status_code == 418
        expect(teapot).to_have_attribute("data-solved", "true")
        expect(page.locator(".toast")).to_contain_text("Challenge solved: Get a 418 I'm a teapot")
