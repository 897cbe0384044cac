"""What a learner sees: notebook tables, the pages at a laptop's and a phone's width.

Runs Chromium headless through Playwright (the ``browser`` fixture in conftest.py).
"""

from __future__ import annotations

import re

import pytest

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
