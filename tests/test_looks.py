"""What a learner sees: notebook tables, the pages at a laptop's and a phone's width.

Runs Chromium headless through Playwright (the ``browser`` fixture in conftest.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from sandbox import display

# JupyterLab's own rule for rendered HTML (@jupyterlab/rendermime, base.css): every cell
# right-aligned. It comes from a stylesheet loaded before a notebook's outputs.
JUPYTERLAB_CSS = (
    "<style>.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th,.jp-RenderedHTMLCommon tr"
    "{text-align:right;vertical-align:middle;padding:.5em;border:none}</style>"
)
ALIGNMENTS = """() => [...document.querySelectorAll('td, th')].map(
    (cell) => getComputedStyle(cell).textAlign)"""


def browser_page(browser):
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    return browser.new_page()


def test_notebook_tables_read_left_aligned_under_jupyterlabs_css(browser):
    table = display.Table(
        [{"id": "a1", "path": "/api/notes", "status": 200}, {"id": "b2", "path": "/", "status": 4}],
        ["id", "path", "status"],
    )
    html = table._repr_html_()
    # Every cell carries its alignment itself: JupyterLab strips <style> from the outputs of
    # a notebook it does not trust (one opened from disk), and keeps inline styles.
    cells = re.findall(r"<t[dh]\b[^>]*>", html)
    assert cells and all("text-align:left" in c for c in cells), cells
    page = browser_page(browser)
    try:
        for output in (html, re.sub(r"<style>.*?</style>", "", html, flags=re.S)):
            page.set_content(f"{JUPYTERLAB_CSS}<div class='jp-RenderedHTMLCommon'>{output}</div>")
            assert set(page.evaluate(ALIGNMENTS)) == {"left"}
    finally:
        page.close()


def test_the_waterfall_keeps_its_bars_where_jupyterlab_strips_styles(browser):
    # A notebook someone else saved, opened from disk, is not trusted: JupyterLab keeps its
    # outputs' HTML but removes every <style>. The waterfall must still draw to scale.
    record = {
        "method": "GET",
        "path": "/api/notes",
        "duration_ms": 10.0,
        "spans": [{"name": "view", "at_ms": 2.0, "duration_ms": 6.0}],
        "sql": [{"sql": "select 1", "params": None, "duration_ms": 1.0, "at_ms": 3.0}],
        "events": [],
    }
    html = re.sub(r"<style>.*?</style>", "", display.waterfall_html(record), flags=re.S)
    page = browser_page(browser)
    try:
        page.set_viewport_size({"width": 1000, "height": 400})
        page.set_content(f"{JUPYTERLAB_CSS}<div class='jp-RenderedHTMLCommon'>{html}</div>")
        boxes = page.evaluate(
            """() => [...document.querySelectorAll('.wf-bar')].map((bar) => {
                const b = bar.getBoundingClientRect();
                const t = bar.parentElement.getBoundingClientRect();
                return [(b.left - t.left) / t.width, b.width / t.width, b.height,
                        getComputedStyle(bar).backgroundColor];
            })"""
        )
    finally:
        page.close()
    request, view, sql = boxes
    assert request[:2] == pytest.approx([0, 1], abs=0.01)  # the whole request: the full track
    assert view[:2] == pytest.approx([0.2, 0.6], abs=0.01)  # started at 2 of 10 ms, took 6
    assert sql[:2] == pytest.approx([0.3, 0.1], abs=0.01)
    assert all(b[2] >= 8 for b in boxes)  # drawn: a bar, not a line of text
    assert len({b[3] for b in boxes}) == 3  # each kind in its own colour


# --- the record panel: long header values stay inside their own column ---

LONG_HEADERS = {
    # What a browser really sends: long values with and without places to break.
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 " * 3,
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    "X-Request-Token": "x" * 600,
    "X-Trace-Context": "00-" + "0af7651916cd43dd8448eb211c80319c" * 8 + "-01",
}
MEASURE_RECORD = """() => {
  const box = (el) => el.getBoundingClientRect();
  const blocks = [...document.querySelectorAll('tr.trace-details .record-block')];
  const titled = (title) => blocks.find((b) => b.querySelector('h4').textContent === title);
  const [request, response] = [titled('Request'), titled('Response')];
  const tables = [...document.querySelectorAll('tr.trace-details table.kv')];
  return {
    request: box(request).toJSON(),
    response: box(response).toJSON(),
    tables: tables.map((t) => ({
      box: box(t).toJSON(), parent: box(t.parentElement).toJSON(),
      hidden: [...t.querySelectorAll('th, td')].filter((c) => !box(c).width).length,
    })),
    page: document.documentElement.scrollWidth, viewport: window.innerWidth,
  };
}"""


@pytest.mark.parametrize("width", [1280, 390])
def test_the_record_panels_header_tables_stay_inside_their_column(browser, live, width):
    from test_browser import open_page, screenshot, wait_live

    with open_page(browser, live.url + "/") as page:
        page.set_viewport_size({"width": width, "height": 900})
        wait_live(page)
        live.get("/server/headers", headers=LONG_HEADERS)
        row = page.locator("tr.trace", has_text="/server/headers")
        row.click()
        page.locator("tr.trace-details table.kv").first.wait_for()
        seen = page.evaluate(MEASURE_RECORD)
        screenshot(page.locator("tr.trace-details"), f"record-headers-{width}")
    for table in seen["tables"]:
        # The table fits its block (a long value wraps or scrolls inside its cell).
        assert table["box"]["right"] <= table["parent"]["right"] + 1, (width, table)
        assert table["hidden"] == 0, f"header names or values hidden at {width} px"
    if width >= 1000:  # side by side: the Request table never runs under the Response one
        assert seen["request"]["right"] <= seen["response"]["left"], seen
    assert seen["page"] <= seen["viewport"], f"the page scrolls sideways at {width} px: {seen}"


def test_the_switch_on_a_module_off_page_turns_it_on_and_reloads(browser, live):
    from test_browser import open_page

    with open_page(browser, live.url + "/jobs") as page:
        expect(page.get_by_role("heading", level=1)).to_have_text("The jobs module is off")
        page.get_by_role("button", name="Switch jobs on and reload").click()
        expect(page.locator("body")).to_contain_text('"jobs"')  # the route's own JSON now
    assert live.get("/sandbox/modules/jobs").json()["enabled"] is True


# --- every main page at a laptop's and a phone's width ---

WIDTHS = (1280, 390)
AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # test-only, see tests/vendor/README.md
# Interactive elements: what a learner clicks, taps or types into.
INTERACTIVE = "a[href], button, input, select, textarea, summary, [role=button], [tabindex]"
MEASURE_PAGE = """(selector) => {
  const visible = (el) => {
    const style = getComputedStyle(el);
    return style.visibility !== 'hidden' && style.display !== 'none' && el.getClientRects().length;
  };
  const boxes = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!visible(el)) continue;
    // One box per line of a link that wraps: its bounding box would span both lines.
    for (const r of el.getClientRects()) {
      if (r.width < 1 || r.height < 1 || r.right <= 0 || r.bottom <= 0) continue;  // off-screen
      boxes.push({el, r, name: `${el.tagName.toLowerCase()} "${(el.textContent || el.name
        || el.id || '').trim().slice(0, 40)}"`});
    }
  }
  const overlaps = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.el === b.el || a.el.contains(b.el) || b.el.contains(a.el)) continue;
      // A label and its own input are one control.
      if (a.el.control === b.el || b.el.control === a.el) continue;
      const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
      const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
      const size = `${Math.round(w)}x${Math.round(h)} px`;
      if (w > 2 && h > 2) overlaps.push(`${a.name} and ${b.name} (${size})`);
    }
  }
  const wide = [...document.querySelectorAll('body *')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width && r.right > window.innerWidth + 1 && visible(el)
      && !el.closest('.table-wrap, pre, .code, [data-scroll]');
  }).slice(0, 5).map((el) => `${el.tagName.toLowerCase()}.${el.className} right ${Math.round(
    el.getBoundingClientRect().right)}`);
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    overlaps: overlaps.slice(0, 10),
    wide,
  };
}"""


def main_pages(live) -> dict[str, str]:
    """Return {name: path} for every page a learner opens."""
    from sandbox.pages import lesson_names
    from sandbox.registry import load_modules

    pages = {
        "landing": "/",
        "readme": "/readme",
        "notes": "/notes/",
        "note-new": "/notes/new",
        "note": "/notes/1",
        "sql-console": "/database/console",
        "schema": "/database/schema",
        "api-explorer": "/api/docs/",
        "logs": "/logging/",
        "module-off": "/jobs",
    }
    pages.update({f"lesson-{name}": f"/lessons/{name}" for name in lesson_names()})
    # A module's source page: every module's is the same template, the shortest two stand in
    # for all (the longest is 40,000 px of highlighted code).
    for module in load_modules()[1:3]:
        pages[f"source-{module.name}"] = f"/modules/{module.name}/source"
    return pages


@pytest.fixture(scope="module")
def looks_server(tmp_path_factory):
    """One sandbox for every page: a few requests in its feed, so the tables are not empty."""
    from helpers import serve

    from sandbox import create_app
    from sandbox.registry import shutdown

    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path_factory.mktemp("looks") / "data")})
    with serve(app) as live:
        for path in ("/server/get", "/server/status/418", "/api/notes?limit=2", "/nothing"):
            live.get(path)
        yield live
    shutdown(app)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_main_page_fits_the_screen_with_no_overlapping_controls(browser, looks_server, width):
    from test_browser import SCREENSHOTS

    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    context = browser.new_context(
        viewport={"width": width, "height": 900}, reduced_motion="reduce", accept_downloads=False
    )
    SCREENSHOTS.mkdir(exist_ok=True)
    problems = []
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        for name, path in main_pages(looks_server).items():
            page.goto(looks_server.url + path, wait_until="load")
            # What a learner sees first; the measurements below cover the whole page.
            page.screenshot(path=SCREENSHOTS / f"page-{name}-{width}.png")
            seen = page.evaluate(MEASURE_PAGE, INTERACTIVE)
            if seen["scrollWidth"] > seen["innerWidth"]:
                problems.append(f"{path} at {width} px scrolls sideways: {seen}")
            if seen["overlaps"]:
                problems.append(f"{path} at {width} px: overlapping {seen['overlaps']}")
    finally:
        context.close()
    assert not problems, "\n".join(problems)


RUN_AXE = """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
  .filter((v) => v.impact === 'serious' || v.impact === 'critical')
  .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.slice(0, 3)
    .map((n) => n.target.join(' ')).join(', ')}`)"""


def test_no_serious_accessibility_violations_on_the_main_pages(browser, looks_server):
    if isinstance(browser, str):
        pytest.fail(browser, pytrace=False)
    assert AXE.is_file(), "tests/vendor/axe.min.js is missing: see tests/vendor/README.md"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    found = {}
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        # Every lesson and source page is the same template with other text: two lessons
        # (tables, code, long lines) and one source page stand in for the rest, to keep the
        # check under half a minute (the screenshot test above still opens every lesson).
        pages = {
            name: path
            for name, path in main_pages(looks_server).items()
            if not name.startswith(("lesson-", "source-"))
            or name in ("lesson-encryption", "lesson-auth", "source-database")
        }
        for name, path in pages.items():
            page.goto(looks_server.url + path)
            if name == "api-explorer":  # Swagger UI draws the page after it loads
                page.locator(".opblock").first.wait_for()
            page.add_script_tag(path=str(AXE))
            if violations := page.evaluate(RUN_AXE):
                found[path] = violations
    finally:
        context.close()
    assert not found, "\n".join(f"{path}: {v}" for path, vs in found.items() for v in vs)
