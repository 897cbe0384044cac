"""Rough edges a new student hit (issue 12 §3), each with the test that would have caught it."""

from __future__ import annotations

import pytest
from helpers import is_problem

# What Chromium and Firefox send when following a link or typing an address.
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_module_that_is_off_is_still_a_problem_for_json_clients(client, accept):
    headers = {"Accept": accept} if accept else {}
    body = is_problem(client.get("/jobs", headers=headers), 404)
    assert body["module"] == "jobs" and "sb.enable('jobs')" in body["detail"]


def test_a_browser_following_a_try_it_link_to_a_module_that_is_off_gets_a_page(client):
    page = client.get("/jobs", headers=BROWSER)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Accept" in page.headers["Vary"]
    html = page.text
    assert "The jobs module is off" in html
    assert "python app.py enable jobs" in html  # the problem's detail, readable
    assert 'data-switch-on="/sandbox/modules/jobs"' in html  # and the switch
    # Other problems of a module's routes stay JSON, even for a browser.
    client.patch("/sandbox/modules/jobs", json={"enabled": True})
    missing = client.get("/jobs/999999", headers=BROWSER)
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def test_the_schema_is_tables_for_a_browser_and_json_for_everyone_else(client):
    data = client.get("/database/schema").json
    assert {t["name"] for t in data["tables"]} >= {"notes"}
    page = client.get("/database/schema", headers=BROWSER)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "Accept" in page.headers["Vary"]
    for table in data["tables"]:
        assert f'id="table-{table["name"]}"' in page.text
        for column in table["columns"]:
            assert f"<code>{column['name']}</code>" in page.text
    assert "curl http://localhost/database/schema" in page.text  # the address it was asked at
    assert client.get("/database/schema", headers={"Accept": "*/*"}).mimetype == "application/json"


WRITTEN = ("127.0.0.1:5000", "localhost:5000")


@pytest.mark.parametrize("page", ["/readme", "/lessons/encryption", "/lessons/auth"])
def test_the_readme_and_lessons_show_the_address_the_sandbox_was_reached_at(client, page):
    here = "http://localhost:8123/user/ada/proxy/8123"
    html = client.get(page, base_url=here).text
    assert here in html
    assert not [w for w in WRITTEN if w in html], "an example still names the default address"
    # Reached at the address the texts are written for, they read as written.
    assert "127.0.0.1:5000" in client.get(page, base_url="http://127.0.0.1:5000").text


def test_the_hints_show_the_address_the_sandbox_was_reached_at(client):
    here = "http://localhost:8123"
    hints = [c["hint"] for c in client.get("/sandbox/progress", base_url=here).json["challenges"]]
    assert any(f"curl -L {here}/server/redirect/3" in h for h in hints)
    assert not [h for h in hints if any(w in h for w in WRITTEN)]


def test_the_landing_page_links_the_readme(client):
    assert 'href="/readme"' in client.get("/").text
