"""Attacks through the HTTP playground (/server/), tried the way an attacker would.

The playground is httpbin: it answers with what the URL asks for. httpbin.org can do that
safely because it has a domain of its own; the sandbox's playground shares its origin
with the learner's login, notes and API. Two attacks follow from that, and both are
refused here:

1. Script on the sandbox's origin: a link to /server/response-headers?Content-Type=
   text/html&x=<script>... would run the attacker's script as the sandbox, with the
   learner's cookies (mint an API token, read the notes). Every playground answer is
   sandboxed by the browser (Content-Security-Policy: sandbox): proved in real Chromium,
   with a control run that shows the same attack succeeding once the header is removed.
2. Planting the sandbox's own cookies: a link to /server/cookies/set?session=<the
   attacker's session> would log the learner in as the attacker (login CSRF). Proved over
   real HTTP with a cookie jar, as a browser keeps one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from helpers import LiveServer, is_problem, playground_path, serve
from playwright.sync_api import Browser, Page, Route

from sandbox import create_app

ADA = {"username": "ada", "password": "analytical engine 1843"}
MALLORY = {"username": "mallory", "password": "a cookie for every occasion"}

# What the attacker's script does, written with single quotes only: it is pasted into JSON
# bodies, where a double quote would come out escaped. It says it ran, then tries to act as
# the learner: mint a 90-day write token, read the cookies the server sees.
ATTACK = (
    "fetch('/server/anything/script-ran');"
    "fetch('/auth/tokens', {method: 'POST', headers: {'Content-Type': 'application/json'},"
    " body: JSON.stringify({name: 'stolen', scope: 'write', expires_in: 7776000})})"
    ".then(r => r.text()).then(t => fetch('/server/anything/token?' + encodeURIComponent(t)));"
    "fetch('/server/cookies').then(r => r.text())"
    ".then(t => fetch('/server/anything/cookies?' + encodeURIComponent(t + document.cookie)));"
)
SCRIPT = f"<script>{ATTACK}</script>"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


# Each way a URL can put markup into a playground answer that a browser shows as a page.
HTML_VECTORS = {
    "response-headers": "/server/response-headers?"
    + urlencode({"Content-Type": "text/html", "x": SCRIPT}),
    "response-headers, its own CSP": "/server/response-headers?"
    + urlencode(
        {
            "Content-Type": "text/html",
            "Content-Security-Policy": "script-src 'unsafe-inline' 'self'; sandbox allow-scripts "
            "allow-same-origin",
            "x": SCRIPT,
        }
    ),
    "base64": "/server/base64/" + _b64(f"<!doctype html><title>hi</title>{SCRIPT}"),
}
# Routes whose answers are not HTML at all; the browser must not guess that they are.
OTHER_VECTORS = {
    "anything": "/server/anything?" + urlencode({"x": SCRIPT}),
    "response-headers, text/plain": "/server/response-headers?"
    + urlencode({"Content-Type": "text/plain", "x": SCRIPT}),
    "redirect-to javascript:": "/server/redirect-to?" + urlencode({"url": f"javascript:{ATTACK}"}),
    "cookies": "/server/cookies/set?" + urlencode({"x": SCRIPT}),
    "status": "/server/status/418?" + urlencode({"x": SCRIPT}),
}


@pytest.fixture
def learner(live) -> dict:
    """Turn the auth module on and log Ada in; return her session cookie."""
    assert live.request("PATCH", "/sandbox/modules/auth", json={"enabled": True}).ok
    assert live.post("/auth/register", json=ADA).status_code == 201
    return {"name": "session", "value": live.session.cookies["session"], "url": live.url}


def tokens(live: LiveServer) -> list[dict]:
    """Return Ada's API tokens, as her own session sees them."""
    response = live.get("/auth/tokens")
    assert response.status_code == 200, response.text
    return response.json()["tokens"]


@contextmanager
def learners_tab(browser: Browser | str, cookie: dict) -> Iterator[tuple[Page, list[str]]]:
    """Open a tab that holds Ada's session cookie; yield it and the URLs it requests."""
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    context = browser.new_context()
    context.add_cookies([cookie])
    requested: list[str] = []
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("request", lambda r: requested.append(r.url))
        yield page, requested
    finally:
        context.close()


def visit(page: Page, url: str) -> None:
    """Follow a link the attacker sent, and give any script on it time to act."""
    page.goto(url)
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("vector", [*HTML_VECTORS, *OTHER_VECTORS])
def test_markup_from_a_url_never_runs_as_the_sandbox(browser, live, learner, vector):
    path = {**HTML_VECTORS, **OTHER_VECTORS}[vector]
    with learners_tab(browser, learner) as (page, requested):
        visit(page, live.url + path)
        ran = [u for u in requested if "/server/anything/" in u]
    assert ran == [], f"the attacker's script ran on the sandbox's origin: {ran}"
    assert tokens(live) == []  # and no token was minted in Ada's name
    assert live.get("/auth/me").json()["username"] == "ada"


@pytest.mark.parametrize("vector", list(HTML_VECTORS))
def test_the_same_attack_succeeds_once_the_sandbox_header_is_removed(
    browser, live, learner, vector
):
    """The control: proves the test above would see the attack if the defence were gone."""

    def strip_policy(route: Route) -> None:
        response = route.fetch()
        headers = {
            k: v for k, v in response.headers.items() if k.lower() != "content-security-policy"
        }
        route.fulfill(response=response, headers=headers)

    with learners_tab(browser, learner) as (page, requested):
        attack_path = urlsplit(HTML_VECTORS[vector]).path
        page.route(lambda url: urlsplit(url).path == attack_path, strip_policy)
        visit(page, live.url + HTML_VECTORS[vector])
        ran = [u for u in requested if "/server/anything/" in u]
    assert any(u.endswith("/script-ran") for u in ran), requested
    assert [t["name"] for t in tokens(live)] == ["stolen"]  # what the header prevents


def _isolated(response: requests.Response) -> None:
    """Assert the browser will sandbox this answer: no scripts, an origin of its own."""
    policies = [p.split() for p in response.raw.headers.getlist("Content-Security-Policy")]
    assert any(
        p[0] == "sandbox" and not {"allow-scripts", "allow-same-origin"} & set(p) for p in policies
    ), (response.url, policies)
    assert response.headers["X-Content-Type-Options"] == "nosniff", response.url


def test_every_playground_answer_is_sandboxed(live):
    """Every route, every method, errors and a switched-off module included."""
    rules = [r for r in live.app.url_map.iter_rules() if r.endpoint.startswith("server.")]
    assert len(rules) > 50
    for rule in rules:
        for method in sorted(rule.methods):
            _isolated(live.request(method, playground_path(rule), allow_redirects=False))
    for bad in (
        "/server/status/abc",  # 400
        "/server/bytes/-1",
        "/server/cookies/set?session=x",  # 403
        "/server/no-such-route/<b>hi</b>",  # 404: no route matched
        "/server/post",  # 405: GET on a POST route
    ):
        response = live.get(bad)
        assert response.status_code >= 400
        _isolated(response)
    # Only the playground: the landing page runs its own scripts.
    assert "sandbox" not in live.get("/").headers.get("Content-Security-Policy", "")
    live.request("PATCH", "/sandbox/modules/server", json={"enabled": False})
    off = live.get("/server/html")
    assert off.status_code == 404
    _isolated(off)


def test_response_headers_cannot_lift_the_sandbox(live):
    """A policy asked for sits beside the sandbox's own; a browser enforces both."""
    response = live.get(
        "/server/response-headers",
        params={
            "Content-Type": "text/html",
            "Content-Security-Policy": "sandbox allow-scripts allow-same-origin",
            "X-Content-Type-Options": "sniff-away",
        },
    )
    assert response.status_code == 200
    policies = response.raw.headers.getlist("Content-Security-Policy")
    assert sorted(policies) == ["sandbox", "sandbox allow-scripts allow-same-origin"]
    assert response.raw.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    # The body still echoes what was asked for, as httpbin's does.
    assert response.json()["Content-Security-Policy"] == "sandbox allow-scripts allow-same-origin"


def test_the_sample_form_submits_but_runs_no_script(browser, live):
    """/forms/post is the one page allowed forms; it still gets no scripts."""
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    policy = live.get("/server/forms/post").headers["Content-Security-Policy"]
    assert policy == "sandbox allow-forms"
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(live.url + "/server/forms/post")
        page.fill("input[name=custname]", "Ada")
        page.check("input[value=cheese]")
        page.get_by_role("button", name="Submit order").click()
        page.wait_for_url("**/server/post")
        body = json.loads(page.locator("pre").inner_text())
        assert body["form"]["custname"] == "Ada" and body["form"]["topping"] == "cheese"
    finally:
        context.close()


# --- planting the sandbox's own cookies (login CSRF) ---


def _attacker_session(live: LiveServer) -> str:
    """Return the session cookie of Mallory's own account, as she would copy it."""
    with requests.Session() as mallory:
        assert mallory.post(live.url + "/auth/register", json=MALLORY).status_code == 201
        return mallory.cookies["session"]


@pytest.mark.parametrize(
    "plant",
    [
        "/server/cookies/set?session={evil}",
        "/server/cookies/set/session/{evil}",
        "/server/cookies/set?flavour=oatmeal&session={evil}",  # one bad name refuses them all
        "/server/cookies/set?SESSION={evil}",
        "/server/cookies/set?__Host-session={evil}",
        "/server/cookies/set?__Secure-session={evil}",
        "/server/response-headers?Set-Cookie=session%3D{evil}%3B%20Path%3D%2F",
        "/server/response-headers?Set-Cookie=%3Dsession%3D{evil}",  # nameless: sent as session=
        "/server/response-headers?Set-Cookie=session",
        "/server/cookies/delete?session",
        "/server/response-headers?Set-Cookie=session%3D%3B%20Max-Age%3D0",
        "/server/response-headers?Clear-Site-Data=%22cookies%22",
        "/server/cookies/set?sandbox_operator=guess",
        "/server/cookies/set?remember_token={evil}",
    ],
)
def test_a_link_cannot_plant_or_drop_the_sandboxs_own_cookies(live, learner, plant):
    url = live.url + plant.format(evil=_attacker_session(live))
    # The learner follows the attacker's link; her cookie jar takes what the answer sets.
    response = live.session.get(url)
    assert response.status_code in (400, 403), response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert live.session.cookies["session"] == learner["value"]
    assert live.get("/auth/me").json()["username"] == "ada"  # still herself, not Mallory
    if response.status_code == 403:
        problem = is_problem(response, 403)
        assert problem["title"] == "Cookie belongs to the sandbox"
        assert "login CSRF" in problem["detail"] or "log you out" in problem["detail"]
        events = live.trace(response)["events"]
        assert any(e.get("decision") == "sandbox cookie" for e in events), events


def test_the_refusal_names_the_attack(live, learner):
    response = live.session.get(live.url + "/server/cookies/set", params={"session": "x"})
    problem = is_problem(response, 403)
    assert problem["cookie"] == "session"
    assert "login CSRF" in problem["detail"]
    (event,) = [e for e in live.trace(response)["events"] if e.get("decision")]
    assert "login CSRF" in event["message"] and "'session'" in event["message"]


def test_other_cookies_are_set_and_deleted_as_httpbin_does(live, learner):
    jar = live.session
    answer = jar.get(live.url + "/server/cookies/set", params={"flavour": "oatmeal"})
    assert answer.json()["cookies"]["flavour"] == "oatmeal"
    jar.get(live.url + "/server/response-headers", params={"Set-Cookie": "size=large"})
    assert jar.cookies["size"] == "large"
    # The playground's cookies live under /server: the rest of the sandbox never gets them.
    assert {c.name: c.path for c in jar.cookies if c.name != "session"} == {
        "flavour": "/server",
        "size": "/server",
    }
    answer = jar.get(live.url + "/server/cookies/delete?flavour&size")
    assert "flavour" not in answer.json()["cookies"] and "size" not in answer.json()["cookies"]
    assert jar.get(live.url + "/auth/me").json()["username"] == "ada"


def test_the_protected_names_follow_the_configured_cookie_names(tmp_path):
    app = create_app(
        {
            "SANDBOX_DATA_DIR": str(tmp_path / "data"),
            "SESSION_COOKIE_NAME": "__Host-sb",
            "REMEMBER_COOKIE_NAME": "keep_me",
        }
    )
    with serve(app) as server:
        for name in ("sb", "__Host-sb", "__secure-SB", "keep_me", "sandbox_operator"):
            response = server.get("/server/cookies/set", params={name: "x"}, allow_redirects=False)
            assert response.status_code == 403, name
        # "session" is not this sandbox's cookie any more: the playground may set it.
        response = server.get("/server/cookies/set", params={"session": "x"}, allow_redirects=False)
        assert response.status_code == 302
