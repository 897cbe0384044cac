"""The pages a browser sees: the landing page, lessons, view-source and error pages."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

import sandbox.pages
from sandbox import create_app
from sandbox.registry import registry, shutdown

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
STATIC = Path(sandbox.pages.__file__).parent / "static"

# Attributes that make a browser load or follow a URL, plus the URLs the page hands its script.
URL_ATTRIBUTE = re.compile(r'\s(href|src|action|data-[a-z-]*url|data-root)="([^"]*)"')


@pytest.fixture
def lessons(tmp_path, monkeypatch) -> Path:
    """Point the pages at an empty lessons folder of our own; the real one is not touched."""
    folder = tmp_path / "lessons"
    folder.mkdir()
    monkeypatch.setattr(sandbox.pages, "LESSONS_DIR", folder)
    return folder


def module_names(app) -> list[str]:
    with app.app_context():
        return list(registry().modules)


def card(page: str, name: str) -> str:
    """Return the HTML of one module's card."""
    match = re.search(rf'<article[^>]*data-module="{name}".*?</article>', page, re.S)
    assert match, f"no card for module {name}"
    return match.group(0)


def urls(page: str) -> list[tuple[str, str]]:
    return URL_ATTRIBUTE.findall(page)


def test_index_explains_the_sandbox_and_how_to_start(client, lessons):
    page = client.get("/").get_data(as_text=True)
    assert "jupyter lab notebooks/" in page
    assert "00-welcome.ipynb" in page
    for command in (
        "python app.py modules",
        "python app.py enable NAME",
        "python app.py disable NAME",
    ):
        assert command in page


def test_index_shows_every_module_with_its_switch_and_links(app, client, lessons):
    page = client.get("/").get_data(as_text=True)
    names = module_names(app)
    assert names
    for name in names:
        html_card = card(page, name)
        assert re.search(
            rf'<input[^>]*role="switch"[^>]*aria-label="{name} module"', html_card, re.S
        )
        assert f'href="/modules/{name}/source"' in html_card
        assert f"<code>/{name}/</code>" in html_card  # its URL prefix
    server = card(page, "server")
    assert 'href="/server/get"' in server  # the "try it" link
    assert "checked" in server


def test_switch_shows_the_saved_state(client, lessons):
    client.patch("/sandbox/modules/server", json={"enabled": False})
    server = card(client.get("/").get_data(as_text=True), "server")
    assert 'data-enabled="false"' in server
    assert not re.search(r"<input[^>]*\schecked", server, re.S)


def test_lesson_link_only_when_the_lesson_exists(client, lessons):
    assert 'href="/lessons/server"' not in client.get("/").get_data(as_text=True)
    (lessons / "server.md").write_text(
        "# Server\n\nHello `GET`.\n\n```python\nx = 1\n```\n", encoding="utf-8"
    )
    assert 'href="/lessons/server"' in card(client.get("/").get_data(as_text=True), "server")
    response = client.get("/lessons/server", headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert '<h1 id="server">Server</h1>' in page
    assert 'class="codehilite"' in page


@pytest.mark.parametrize(
    "path", ["/", "/modules/server/source", "/lessons/server", "/lessons/nothing-here"]
)
def test_pages_load_nothing_from_the_internet(client, lessons, path):
    (lessons / "server.md").write_text("# Server\n", encoding="utf-8")
    page = client.get(path, headers=HTML).get_data(as_text=True)
    for attribute, url in urls(page):
        if attribute in ("src", "href") or attribute.startswith("data-"):
            assert not re.match(r"(https?:)?//", url), f"{attribute}={url} needs the internet"
    assert "@import" not in page


def test_static_files_are_self_contained():
    css = (STATIC / "sandbox.css").read_text(encoding="utf-8")
    js = (STATIC / "sandbox.js").read_text(encoding="utf-8")
    assert not re.search(r"url\(|@import|https?://", css)
    assert not re.search(r"https?://|import\s*\(|\bimport\s", js)
    # Every URL comes from the page (url_for), so the app works under a prefix.
    assert "/sandbox/" not in js
    # Data goes into the page as text only.
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js


def test_unknown_lesson_is_a_404_page_for_a_browser(client, lessons):
    response = client.get("/lessons/nothing-here", headers=HTML)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "There is no lesson" in response.get_data(as_text=True)


def test_unknown_lesson_is_a_problem_for_a_program(client, lessons):
    response = client.get("/lessons/nothing-here", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["title"] == "Not found"
    assert "nothing-here" in response.json["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/lessons/../../etc/passwd",
        "/lessons/..%2F..%2Fetc%2Fpasswd",
        "/lessons/%2e%2e%2fsecret",
        "/lessons/..%2Fsecret",
        "/lessons/..",
        "/lessons/%2Fetc%2Fpasswd",
        "/lessons/secret.md",
    ],
)
def test_lesson_paths_cannot_reach_other_files(client, lessons, path):
    (lessons.parent / "secret.md").write_text("TOP SECRET", encoding="utf-8")
    response = client.get(path)
    assert response.status_code == 404
    body = response.get_data(as_text=True)
    assert "TOP SECRET" not in body and "root:" not in body


def test_source_shows_the_real_code(client):
    response = client.get("/modules/server/source", headers=HTML)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    # Strip pygments' markup: what is left must be the file, line for line.
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    views = Path(sandbox.pages.__file__).parent / "modules" / "server" / "views.py"
    for line in views.read_text(encoding="utf-8").splitlines():
        assert line in shown
    assert 'href="#sandbox/modules/server/views.py"' in page  # the file list
    assert 'id="sandbox/modules/server/views.py"' in page
    assert 'class="highlighttable"' in page


def test_source_of_an_unknown_module_is_a_404(client):
    response = client.get("/modules/nothing/source", headers=HTML)
    assert response.status_code == 404
    assert "There is no module" in response.get_data(as_text=True)


PREFIX = "/user/x/proxy/5000"


@pytest.mark.parametrize(
    "path", ["/", "/modules/server/source", "/lessons/server", "/lessons/nothing-here"]
)
def test_pages_work_under_a_prefix(client, lessons, path):
    (lessons / "server.md").write_text("# Server\n", encoding="utf-8")
    response = client.get(path, base_url=f"http://localhost{PREFIX}/", headers=HTML)
    assert response.status_code in (200, 404)
    found = urls(response.get_data(as_text=True))
    assert found
    for attribute, url in found:
        if attribute == "data-root":
            assert url == PREFIX
        elif not url.startswith(("#", "data:")):  # same page, or inline data
            assert url.startswith(PREFIX + "/"), f"{attribute}={url} ignores the prefix"


def test_index_under_a_prefix_hands_the_script_every_api_url(client, lessons):
    page = client.get("/", base_url=f"http://localhost{PREFIX}/").get_data(as_text=True)
    given = dict((a, u) for a, u in urls(page) if a.startswith("data-"))
    assert given == {
        "data-root": PREFIX,
        "data-modules-url": f"{PREFIX}/sandbox/modules",
        "data-toggle-url": f"{PREFIX}/sandbox/modules/__NAME__",
        "data-traces-url": f"{PREFIX}/sandbox/traces?limit=20",
        "data-stream-url": f"{PREFIX}/sandbox/traces/stream",
        "data-trace-url": f"{PREFIX}/sandbox/traces/__ID__",
        "data-progress-url": f"{PREFIX}/sandbox/progress",
        "data-reset-url": f"{PREFIX}/sandbox/reset",
        "data-settings-url": f"{PREFIX}/sandbox/settings",
        "data-compare-url": f"{PREFIX}/sandbox/compare",
        "data-copy-url": f"{PREFIX}/sandbox/traces/__ID__/as/__FORMAT__",
        "data-static-url": f"{PREFIX}/static/",
        "data-favicon-url": f"{PREFIX}/favicon.ico",
        "data-snapshots-url": f"{PREFIX}/sandbox/snapshots",
        "data-snapshot-url": f"{PREFIX}/sandbox/snapshots/__NAME__",
        "data-restore-url": f"{PREFIX}/sandbox/snapshots/__NAME__/restore",
    }
    assert f'href="{PREFIX}/server/get"' in page
    assert f'href="{PREFIX}/static/sandbox.css"' in page
    assert f'src="{PREFIX}/static/sandbox.js"' in page


def test_the_api_urls_the_page_uses_answer(client):
    page = client.get("/").get_data(as_text=True)
    given = dict((a, u) for a, u in urls(page) if a.endswith("-url"))
    for attribute in (
        "data-modules-url",
        "data-traces-url",
        "data-progress-url",
        "data-settings-url",
    ):
        assert client.get(given[attribute]).status_code == 200
    assert (
        client.patch(
            given["data-toggle-url"].replace("__NAME__", "server"), json={"enabled": True}
        ).json["enabled"]
        is True
    )


def test_the_landing_page_counts_server_errors_and_keeps_counting_live(app, client):
    from flask import Blueprint

    boom = Blueprint("boom", __name__)

    @boom.get("/boom")
    def explode():
        raise RuntimeError("a bug for the error count")

    app.register_blueprint(boom)
    assert 'data-error-count="0"' in client.get("/").get_data(as_text=True)
    assert client.get("/boom").status_code == 500
    assert client.get("/boom").status_code == 500
    page = client.get("/").get_data(as_text=True)
    assert 'data-error-count="2"' in page
    assert "server errors: <b>2</b>" in page
    # The page's script adds each new 5xx that arrives on the live feed.
    script = client.get("/static/sandbox.js")
    assert "trace.status >= 500" in script.get_data(as_text=True)
    script.close()


def boom_route(app) -> None:
    """Give ``app`` a route that fails with a server error (500), as a bug would."""
    from flask import Blueprint

    boom = Blueprint("boom", __name__)

    @boom.get("/boom")
    def explode():
        raise RuntimeError("a bug for the error count")

    app.register_blueprint(boom)


def test_the_landing_page_is_rendered_once_and_again_for_each_thing_it_shows(
    app, client, lessons, monkeypatch
):
    rendered = []
    render = sandbox.pages.render_template

    def counted(name, **context):
        rendered.append(name)
        return render(name, **context)

    monkeypatch.setattr(sandbox.pages, "render_template", counted)
    boom_route(app)
    first = client.get("/").get_data(as_text=True)
    assert client.get("/").get_data(as_text=True) == first  # a reload: the page kept
    assert rendered == ["index.html"]
    # Each thing the page shows is part of what it is kept by: a change shows at once.
    client.patch("/sandbox/modules/server", json={"enabled": False})
    assert 'data-enabled="false"' in card(client.get("/").get_data(as_text=True), "server")
    (lessons / "server.md").write_text("# Server\n", encoding="utf-8")
    assert 'href="/lessons/server"' in client.get("/").get_data(as_text=True)
    assert client.get("/boom").status_code == 500
    assert "server errors: <b>1</b>" in client.get("/").get_data(as_text=True)
    other_host = client.get("/", base_url="http://127.0.0.1:5000/").get_data(as_text=True)
    assert "curl http://127.0.0.1:5000/sandbox/modules" in other_host
    under_prefix = client.get("/", base_url=f"http://localhost{PREFIX}/").get_data(as_text=True)
    assert f'data-root="{PREFIX}"' in under_prefix
    assert len(rendered) == 6
    assert "curl http://localhost/sandbox/modules" in client.get("/").get_data(as_text=True)
    assert len(rendered) == 6  # the first host's page, still kept


def test_the_error_count_follows_the_kept_records(tmp_path):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_TRACE_LIMIT": 4})
    try:
        boom_route(app)
        client = app.test_client()
        for _ in range(2):
            assert client.get("/boom").status_code == 500
        assert "server errors: <b>2</b>" in client.get("/").get_data(as_text=True)
        for _ in range(3):  # the two errors leave the ring of four kept records
            client.get("/server/get")
        assert "server errors: <b>0</b>" in client.get("/").get_data(as_text=True)
        assert client.get("/boom").status_code == 500
        assert client.post("/sandbox/reset").status_code == 200  # forgets every record
        assert "server errors: <b>0</b>" in client.get("/").get_data(as_text=True)
    finally:
        shutdown(app)


def test_another_workers_server_error_is_counted(tmp_path):
    config = {"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_WORKERS": 2}
    first, second = create_app(config), create_app(config)
    try:
        for app in (first, second):
            boom_route(app)
        assert first.test_client().get("/boom").status_code == 500
        page = second.test_client().get("/").get_data(as_text=True)
        assert "server errors: <b>1</b>" in page
        assert second.test_client().get("/boom").status_code == 500
        assert "server errors: <b>2</b>" in first.test_client().get("/").get_data(as_text=True)
    finally:
        for app in (first, second):
            shutdown(app)
