"""The record as a picture: a waterfall of each phase, statement and event (issue 12 §1).

Every span, SQL statement and event of a record carries ``at_ms``, its start from the
request's start; the browser's record panel and ``sb.trace()`` draw them to scale.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

from helpers import is_problem
from playwright.sync_api import expect
from test_browser import open_page

from sandbox.display import COPY_FORMATS, Trace, copy_as, waterfall_rows
from sandbox.errors import InvalidPath


def record_of(client, response) -> dict:
    """Return the full record of a test-client response."""
    return client.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}").get_json()


def span(record: dict, name: str) -> dict:
    return next(s for s in record["spans"] if s["name"] == name)


# --- the record: when each thing happened ---


def test_each_phase_statement_and_event_has_its_start_in_order_and_inside_the_request(client):
    record = record_of(client, client.get("/api/notes"))
    total = record["duration_ms"]
    gate, view, response = span(record, "gate"), span(record, "view"), span(record, "response")
    # In the order Flask runs them, one after the other, all inside the request's time.
    assert 0 <= gate["at_ms"] <= gate["at_ms"] + gate["duration_ms"] <= view["at_ms"]
    assert view["at_ms"] + view["duration_ms"] <= response["at_ms"]
    assert response["at_ms"] + response["duration_ms"] <= total + 0.01
    # The view's statements ran inside the view, each for its own time.
    assert record["sql"], record
    for statement in record["sql"]:
        assert view["at_ms"] <= statement["at_ms"], statement
        assert statement["at_ms"] + statement["duration_ms"] <= view["at_ms"] + view["duration_ms"]
    starts = [s["at_ms"] for s in record["sql"]]
    assert starts == sorted(starts)
    # The event the gate or view added (auth off: everyone is the guest) is placed too.
    assert record["events"] and all(0 <= e["at_ms"] <= total for e in record["events"])


def test_a_module_hook_is_its_own_span_inside_the_gate(client):
    client.patch("/sandbox/modules/ratelimit", json={"enabled": True})
    record = record_of(client, client.get("/api/notes"))
    gate, hook = span(record, "gate"), span(record, "ratelimit: before")
    assert gate["at_ms"] <= hook["at_ms"]
    assert hook["at_ms"] + hook["duration_ms"] <= gate["at_ms"] + gate["duration_ms"]
    assert span(record, "ratelimit: after")["at_ms"] >= span(record, "view")["at_ms"]
    # Off again: its hooks no longer run, so no span says they did.
    client.patch("/sandbox/modules/ratelimit", json={"enabled": False})
    names = [s["name"] for s in record_of(client, client.get("/api/notes"))["spans"]]
    assert not any(n.startswith("ratelimit") for n in names)


def test_a_refused_request_still_ends_every_span(client):
    client.patch("/sandbox/modules/server", json={"enabled": False})
    record = record_of(client, client.get("/server/get"))
    assert record["status"] == 404
    assert all(isinstance(s["duration_ms"], float) for s in record["spans"]), record["spans"]
    assert span(record, "gate")  # the gate refused it: no view ran
    assert not any(s["name"] == "view" for s in record["spans"])


# --- the picture in a notebook: sb.trace() ---


def bars(html: str) -> list[tuple[str, float, float, str]]:
    """Return each bar of a waterfall: its kind, left and width (percent), hover text."""
    found = re.findall(
        r"class='wf-bar wf-(\w+)' style='left:([\d.]+)%;width:([\d.]+)%;[^']*' title='([^']*)'",
        html,
    )
    return [(k, float(left), float(width), unescape(t)) for k, left, width, t in found]


def test_the_notebook_trace_draws_the_waterfall_to_scale_with_sql_text_params_and_plan(client):
    record = record_of(client, client.get("/api/notes?limit=3"))
    html = Trace(record)._repr_html_()
    assert "<script" not in html  # a notebook shows it without running anything
    drawn = bars(html)
    assert drawn[0][:3] == ("request", 0.0, 100.0)  # the whole request is the full width
    kinds = [k for k, *_ in drawn[1:]]
    assert kinds == [r["kind"] for r in waterfall_rows(record)]
    assert {"span", "sql", "event"} <= set(kinds)
    # Each bar sits where its thing started, to scale, and never past the end.
    for (_kind, left, width, _), row in zip(drawn[1:], waterfall_rows(record), strict=True):
        assert abs(left - 100 * row["at_ms"] / record["duration_ms"]) < 0.02
        assert left + width <= 100.01
    # Hover a statement: its text, its parameters and the plan the indexing module added.
    first = record["sql"][0]
    hover = next(t for k, _, _, t in drawn if k == "sql")
    assert hover.startswith(first["sql"])
    assert '"local"' in hover and "3" in hover
    assert "plan:" in hover and first["plan"][0] in hover


def test_a_record_without_times_shows_no_waterfall():
    old = {"id": "x", "method": "GET", "path": "/", "duration_ms": 1.0, "sql": [], "events": []}
    assert "wf-row" not in Trace(old)._repr_html_()


# --- "copy as": the request of any record, for curl, HTTPie, requests and fetch ---

PW = "correct horse battery staple"


def logged_in(live) -> str:
    """Switch auth on, make an account (its session cookie stays in live.session); a token."""
    live.session.patch(live.url + "/sandbox/modules/auth", json={"enabled": True})
    made = live.post("/auth/register", json={"username": "ada", "password": PW})
    assert made.status_code == 201, made.text
    token = live.post("/auth/tokens", json={"name": "copy", "scope": "write"})
    assert token.status_code == 201, token.text
    return token.json()["token"]


def copied(live, response, format: str) -> dict:
    answer = live.get(f"/sandbox/traces/{response.headers['X-Sandbox-Trace']}/as/{format}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def run(args: list[str], env: dict[str, str], **kwargs) -> str:
    done = subprocess.run(
        args, env={**os.environ, **env}, capture_output=True, text=True, timeout=30, **kwargs
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_format_keeps_secrets_out_and_names_them_as_variables(live):
    token = logged_in(live)
    sent = live.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert sent.status_code == 200
    session = live.session.cookies.get("session") or next(iter(live.session.cookies.values()))
    for format in COPY_FORMATS:
        copy = copied(live, sent, format)
        assert token not in copy["command"] and session not in copy["command"], format
        assert "AUTH" in copy["command"] and "COOKIES" in copy["command"], copy
        assert any(n.startswith("$AUTH: ") for n in copy["notes"]), copy["notes"]
        assert f"{live.url}/auth/me" in copy["command"]
        assert "Bearer" in copy["command"]  # the scheme teaches; only the token is secret


def test_curl_copy_run_for_real_reproduces_the_status_with_the_secrets_set(live):
    token = logged_in(live)
    sent = live.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    command = copied(live, sent, "curl")["command"]
    cookies = "; ".join(f"{k}={v}" for k, v in live.session.cookies.items())
    out = run(["sh", "-c", command], {"AUTH": token, "COOKIES": cookies})
    assert out.startswith("HTTP/1.1 200"), out
    # The placeholders matter: with a wrong token and no cookie, the same line is refused.
    out = run(["sh", "-c", command], {"AUTH": "wrong", "COOKIES": ""})
    assert out.startswith("HTTP/1.1 401"), out


def test_requests_and_fetch_copies_of_a_post_run_for_real_with_the_same_status(live):
    body = {"title": "it's $HOME `x`", "body": 'a "quoted" line\nand another'}
    sent = live.post("/api/notes?source=copy", json=body)
    assert sent.status_code == 201
    code = copied(live, sent, "requests")["command"]
    assert run([sys.executable, "-c", code], {}).startswith("201 CREATED")
    script = copied(live, sent, "fetch")["command"]
    assert run(["node", "--input-type=module", "-e", script], {}).startswith("201 CREATED")
    # The same note again, body as sent: each copy made one more, with the same title.
    titles = [n["title"] for n in live.get("/api/notes?limit=100").json()["items"]]
    assert titles.count(body["title"]) == 3


def test_curl_and_httpie_copies_are_shell_lines_that_send_the_body_as_it_was(live):
    sent = live.post("/api/notes", json={"title": "it's $HOME", "body": "`date`"})
    command = copied(live, sent, "curl")["command"]
    assert "\n" not in command
    assert run(["sh", "-c", command], {}).startswith("HTTP/1.1 201")
    httpie = copied(live, sent, "httpie")["command"]
    words = shlex.split(httpie)  # what the shell hands HTTPie: the body exactly as sent
    assert words[:3] == ["http", "POST", f"{live.url}/api/notes"]
    assert json.loads(words[words.index("--raw") + 1]) == {"title": "it's $HOME", "body": "`date`"}
    if shutil.which("http"):  # HTTPie installed here: run it too
        assert "201" in run(["sh", "-c", httpie + " --print=h"], {}).splitlines()[0]


def test_notebook_trace_as_uses_the_same_writer_and_the_handles_address(live):
    sent = live.post("/api/notes", json={"title": "t", "body": "b"})
    trace = Trace(live.trace(sent))
    trace.base_url = live.url
    for format in COPY_FORMATS:
        assert trace.as_(format) == copied(live, sent, format)["command"]
    assert "<pre><code>curl -i" in trace.as_("curl")._repr_html_()


def test_copy_of_an_unknown_format_or_record_or_a_job_is_a_clear_4xx(client, live):
    sent = live.get("/server/get")
    problem = is_problem(
        live.get(f"/sandbox/traces/{sent.headers['X-Sandbox-Trace']}/as/wget"), 404
    )
    assert "curl, httpie, requests, fetch" in problem["detail"]
    problem = is_problem(live.get("/sandbox/traces/nope/as/curl"), 404)
    assert "No record with id 'nope'" in problem["detail"]
    job = {"id": "j1", "method": "JOB", "path": "count notes", "parent": "r1"}
    with live.app.test_request_context():
        try:
            copy_as(job, "curl", live.url)
        except InvalidPath as error:
            assert "r1" in error.detail and "job" in error.detail
        else:
            raise AssertionError("a job's record was copied as a request")


# --- compare two records ---


def on_and_off(client) -> tuple[str, str]:
    """The same request with the caching module off (A), then on and answered from its cache (B)."""
    a = client.get("/api/notes").headers["X-Sandbox-Trace"]
    client.patch("/sandbox/modules/caching", json={"enabled": True})
    client.get("/api/notes")  # fills the cache
    b = client.get("/api/notes").headers["X-Sandbox-Trace"]
    return a, b


def test_compare_lines_up_the_same_request_with_a_module_off_and_on(client):
    a, b = on_and_off(client)
    data = client.get(f"/sandbox/compare?a={a}&b={b}").get_json()
    assert (data["a"], data["b"]) == (a, b)
    assert {"sql", "events", "response_headers"} <= set(data["differs"])
    assert "status" not in data["differs"] and data["status"] == {"a": 200, "b": 200, "same": True}
    # The cache answered B: A's statements stand against empty cells, B's cache event too.
    assert data["sql"] and all(r["a"] and r["b"] is None and not r["same"] for r in data["sql"])
    hit = [r for r in data["events"] if not r["same"]]
    assert [r["a"] for r in hit] == [None] and hit[0]["b"].startswith("caching: cache hit")
    assert any(r["same"] for r in data["events"])  # the event both had, side by side
    # A header only the module adds differs; the date and record id always do, unhighlighted.
    headers = {h["name"]: h for h in data["response_headers"]}
    assert headers["X-Cache"]["a"] is None and not headers["X-Cache"]["same"]
    assert headers["X-Sandbox-Trace"]["same"] and headers["X-Sandbox-Trace"]["a"] != b
    # Reading records makes no record: the feed is not flooded by comparing.
    listed = [t["path"] for t in client.get("/sandbox/traces?limit=500").get_json()["traces"]]
    assert "/sandbox/compare" not in listed


def test_compare_shows_a_status_that_differs_and_a_browser_gets_a_page(client):
    a = client.get("/server/get").headers["X-Sandbox-Trace"]
    client.patch("/sandbox/modules/server", json={"enabled": False})
    b = client.get("/server/get").headers["X-Sandbox-Trace"]
    data = client.get(f"/sandbox/compare?a={a}&b={b}").get_json()
    assert data["status"] == {"a": 200, "b": 404, "same": False}
    assert data["exception"]["same"] and "status" in data["differs"]
    page = client.get(f"/sandbox/compare?a={a}&b={b}", headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    status_row = re.search(r"<tr([^>]*)><th scope='row'>status</th>(.*?)</tr>", html)
    assert "data-differs" in status_row.group(1) and "404" in status_row.group(2)
    assert f'sb.compare("{a}", "{b}")' in html


def test_compare_with_unknown_or_missing_ids_is_a_problem_naming_them(client):
    known = client.get("/server/get").headers["X-Sandbox-Trace"]
    problem = is_problem(client.get("/sandbox/compare?a=nope1&b=nope2"), 404)
    assert problem["unknown"] == ["nope1", "nope2"]
    assert "'nope1' or 'nope2'" in problem["detail"]
    problem = is_problem(client.get(f"/sandbox/compare?a={known}&b=gone"), 404)
    assert problem["unknown"] == ["gone"]
    problem = is_problem(client.get(f"/sandbox/compare?a={known}"), 422)
    assert [e["loc"] for e in problem["errors"]] == [["query", "b"]]


def test_sb_compare_takes_responses_ids_or_traces_and_highlights_the_differences(live):
    from sandbox import Sandbox

    sb = Sandbox.connect(live.url)
    off = sb.get("/api/notes")
    sb.enable("caching")
    sb.get("/api/notes")
    on = sb.get("/api/notes")
    shown = sb.compare(off, on)
    assert "sql" in shown["differs"]
    assert sb.compare(off.trace_id, sb.trace(on)) == shown
    html = shown._repr_html_()
    assert html.count("data-differs") == sum(
        not r["same"]
        for key in ("response_headers", "request_headers", "sql", "events", "spans")
        for r in shown[key]
    ) + sum(
        not shown[key]["same"]
        for key in ("request", "query", "status", "module", "exception", "duration_ms")
    ) + (not shown["request_body"]["same"]) + (not shown["response_size"]["same"])
    assert "<script" not in html


# --- the feed shows the learner's own traffic; a real icon ---


def test_the_icon_is_served_and_linked_so_no_404_lands_in_the_feed(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert icon.get_data(as_text=True).startswith("<svg")
    page = client.get("/").get_data(as_text=True)
    link = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', page)
    with client.get(link.group(1)) as linked:  # a file: closed when read
        assert linked.status_code == 200 and linked.mimetype == "image/svg+xml"


# --- in a real browser: the waterfall, copy as, the feed's filter, compare ---

SCREENSHOTS = Path(__file__).parent / "screenshots"
WIDTHS = (1280, 390)

OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width + 1 && e.getClientRects().length)
    .filter((e) => !e.closest(".table-wrap, pre"))  // these scroll inside themselves
    .map((e) => `${e.tagName}.${e.className} ${(e.textContent || "").slice(0, 30)}`);
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5)};
}"""


def no_horizontal_overflow(page) -> None:
    found = page.evaluate(OVERFLOW)
    assert found["scroll"] <= found["width"] and not found["wide"], found


def test_waterfall_copy_as_and_compare_in_the_browser_at_two_widths(browser, live):
    a = live.get("/api/notes?limit=5")  # caching off
    live.session.patch(live.url + "/sandbox/modules/caching", json={"enabled": True})
    live.get("/api/notes?limit=5")
    b = live.get("/api/notes?limit=5")  # caching on: from its cache
    ids = [r.headers["X-Sandbox-Trace"] for r in (a, b)]
    SCREENSHOTS.mkdir(exist_ok=True)
    for width in WIDTHS:
        with open_page(browser, live.url + "/", width) as page:
            expect(page.locator("[data-live]")).to_have_attribute("data-live", "on")
            # The feed: the learner's requests (and the page they opened); the page's own
            # calls, its static files and its icon hidden, not gone.
            learner = page.locator("tr.trace:not(.trace-own)", has_text="/api/notes")
            expect(learner).to_have_count(3)
            visible = page.locator("tr.trace:visible td.path").all_inner_texts()
            assert set(visible) == {"/", "/api/notes"}, visible  # "/": the page, opened
            own = page.locator("tr.trace-own")
            expect(own.first).to_be_hidden()  # PATCH /sandbox/modules/caching, at least
            page.get_by_label("Show the page's own requests").check()
            expect(own.first).to_be_visible()
            page.get_by_label("Show the page's own requests").uncheck()
            expect(page.locator("tr.trace", has_text="/favicon.ico")).to_have_count(0)

            # The record's waterfall: the whole request, then its phases, SQL and events.
            row = page.locator(f'tr[data-trace="{ids[0]}"]')
            row.click()
            details = page.locator("tr.trace-details")
            bars = details.locator("[data-waterfall] li")
            expect(bars.first).to_have_class(re.compile("wf-row-request"))
            expect(details.locator(".wf-row-span", has_text="view")).to_have_count(1)
            sql = details.locator(".wf-row-sql").first
            hover = sql.get_attribute("title")
            assert hover.startswith("select") and "params:" in hover and "plan:" in hover
            sql.hover()
            # Bars are placed in percent of the request: inside the track, to scale.
            inside = sql.locator(".wf-bar").evaluate(
                "b => { const t = b.parentElement.getBoundingClientRect(),"
                " r = b.getBoundingClientRect(); return r.left >= t.left - 1 &&"
                " r.right <= t.right + 1 }"
            )
            assert inside

            # Copy as: the command shown (and copied), with its notes.
            details.get_by_role("button", name="Python requests").click()
            shown = details.locator('[data-copy-command="requests"]')
            expect(shown).to_contain_text("requests.request(")
            expect(shown).to_contain_text(f"{live.url}/api/notes?limit=5")
            details.get_by_role("button", name="curl").click()
            expect(details.locator('[data-copy-command="curl"]')).to_contain_text("curl -i")
            no_horizontal_overflow(page)
            screenshot = SCREENSHOTS / f"record-waterfall-{width}.png"
            details.screenshot(path=screenshot)

            # Tick two rows: the compare link appears, A first.
            link = page.locator("[data-compare-link]")
            expect(link).to_be_hidden()
            for record_id in ids:
                page.locator(f'[data-pick="{record_id}"]').check()
            expect(link).to_be_visible()
            href = link.get_attribute("href")
            assert href.endswith(f"?a={ids[0]}&b={ids[1]}"), href
            no_horizontal_overflow(page)

        with open_page(browser, live.url + href, width) as page:
            table = page.locator("table.cmp")
            expect(table).to_be_visible()
            expect(page.locator("[data-compare-summary]")).to_contain_text("SQL")
            differs = page.locator("tr[data-differs]")
            expect(differs.first).to_be_visible()
            expect(page.locator("tr[data-differs]", has_text="caching: cache hit")).to_have_count(1)
            color = differs.first.locator("td").first.evaluate(
                "td => getComputedStyle(td).backgroundColor"
            )
            assert color not in ("rgba(0, 0, 0, 0)", "rgb(255, 255, 255)"), color
            no_horizontal_overflow(page)
            page.screenshot(path=SCREENSHOTS / f"compare-{width}.png", full_page=True)


def test_in_a_class_workspace_the_copy_goes_to_the_workspace_with_its_token_as_a_variable(ada, bob):
    sent = ada.post("api/notes", json={"title": "mine", "body": "b"})
    assert sent.status_code == 201
    record_id = sent.headers["X-Sandbox-Trace"]
    copy = ada.get(f"sandbox/traces/{record_id}/as/curl").json()
    assert f"{ada.url}api/notes" in copy["command"] and ada.token not in copy["command"]
    assert '"X-Sandbox-Token: $SANDBOX_TOKEN"' in copy["command"]
    out = run(["sh", "-c", copy["command"]], {"SANDBOX_TOKEN": ada.token})
    assert out.startswith("HTTP/1.1 201"), out
    titles = [n["title"] for n in ada.get("api/notes").json()["items"]]
    assert titles.count("mine") == 2  # in Ada's workspace, not Bob's
    assert "mine" not in [n["title"] for n in bob.get("api/notes").json()["items"]]
    # Another student's record is not there to copy or compare.
    is_problem(bob.get(f"sandbox/traces/{record_id}/as/curl"), 404)
    mine = bob.get("server/get").headers["X-Sandbox-Trace"]
    assert is_problem(bob.get(f"sandbox/compare?a={mine}&b={record_id}"), 404)["unknown"] == [
        record_id
    ]
