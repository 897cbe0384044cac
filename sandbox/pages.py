"""Pages: the landing page, the lessons and view-source, for a browser.

Every page is served from the package itself (templates and static files), so
the sandbox works offline; the live parts call the same /sandbox/ API as curl.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import markdown
from flask import (
    Blueprint,
    Response,
    current_app,
    make_response,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

from .classroom import is_class_mode, sent_token
from .errors import NotFound
from .guard import operator_ok
from .record import records
from .registry import registry
from .workspaces import ENVIRON_KEY, for_this_server

bp = Blueprint("pages", __name__)

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"


@bp.get("/favicon.ico")
def favicon() -> Response:
    """Serve the sandbox's icon where browsers look for one by themselves.

    A page links its icon (base.html); a JSON answer opened in a tab has no page to link it,
    so the browser asks for /favicon.ico, and a 404 it, not the learner, sent would land in
    the requests table. The icon is an SVG, which browsers take from any URL.
    """
    icon = Path(current_app.static_folder or "", "favicon.svg").read_bytes()  # 300 bytes
    response = Response(icon, mimetype="image/svg+xml")
    response.cache_control.max_age = 86400  # asked for once a day, not on every page
    return response


@bp.get("/")
def index() -> str | Response:
    """Show what the sandbox is, its modules with their switches, and the live requests."""
    if is_class_mode() and ENVIRON_KEY not in request.environ:
        return render_template("class_join.html")  # a class server's front page: join
    access = workspace_access()
    page = landing_page(
        script_root=request.script_root,
        host=(request.scheme, request.host),  # the page's curl example is a full URL
        switches=tuple(registry().state().items()),
        lessons=tuple(lesson_names()),
        locked=not operator_ok(),  # beyond loopback, without the operator token
        access=tuple(access.items()) if access else None,
        # Error tracking: the server errors (5xx) among the kept records, counted live after.
        errors=records().server_errors(),
    )
    if access is None:
        return page
    # The page shows the workspace's token: no browser cache or proxy may keep a copy.
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


# Rendered landing pages, by everything a page shows. The page is ~240 lines of template
# and ~70 links: rendering it was 60% of a visit's time, and a page seen once is usually
# seen again unchanged (a reload, another tab, a room of students on the same switches).
PAGES_KEPT = 128


def landing_page(**shown: Any) -> str:
    """Return the landing page for ``shown``, rendered once for each different value."""
    key = tuple(shown.values())
    cache = not current_app.jinja_env.auto_reload  # debug: a template edit shows at once
    pages, lock = current_app.extensions.setdefault(
        "sandbox.landing_pages", (OrderedDict(), threading.Lock())
    )
    with lock:
        page = pages.get(key) if cache else None
        if page is not None:
            pages.move_to_end(key)
            return page
    reg = registry()
    page = render_template(
        "index.html",
        modules=[reg.describe(m) for m in reg.modules.values()],
        try_urls={name: url_for(endpoint) for name, endpoint in first_routes().items()},
        lessons=list(shown["lessons"]),
        locked=shown["locked"],
        workspace=dict(shown["access"]) if shown["access"] else None,
        errors=shown["errors"],
    )
    if cache:
        with lock:
            pages[key] = page
            if len(pages) > PAGES_KEPT:
                pages.popitem(last=False)
    return page


def first_routes() -> dict[str, str]:
    """Return each module's page to start from: its first navigation link, else its first
    GET route that takes no arguments (a safe first request).

    Read from the modules and the URL map, so a new module gets its link with no edit here;
    once per app (the routes do not change while it runs): walking every rule for every
    module on every visit was most of the page's time.
    """
    found = current_app.extensions.get("sandbox.first_routes")
    if found is None:
        found = {}
        for module in registry().modules.values():
            if module.nav_links:  # the page the module itself points a learner to
                found[module.name] = module.nav_links[0][1]
        for rule in current_app.url_map.iter_rules():
            module = rule.endpoint.partition(".")[0]
            if module in registry().modules and "GET" in rule.methods and not rule.arguments:
                found.setdefault(module, rule.endpoint)
        current_app.extensions["sandbox.first_routes"] = found
    return found


def workspace_access() -> dict[str, str] | None:
    """Return a class workspace's URL and the token this request carries, else None."""
    if not is_class_mode() or ENVIRON_KEY not in request.environ:
        return None
    return {"url": request.url_root, "token": sent_token()}


def lesson_names() -> list[str]:
    """Return the lessons there are, by module name."""
    if not LESSONS_DIR.is_dir():
        return []
    # Listed again only when the folder changed (a lesson added or removed changes its
    # modification time): every landing page shows them, and listing a folder is slow.
    changed = LESSONS_DIR.stat().st_mtime_ns
    if _lessons[0] != changed:
        _lessons[:] = [changed, sorted(p.stem for p in LESSONS_DIR.glob("*.md"))]
    return list(_lessons[1])


_lessons: list = [None, []]  # [the folder's modification time, the names then]


@bp.get("/lessons/<name>")
def lesson(name: str) -> str:
    """Render lessons/<name>.md as a page."""
    if name not in lesson_names():  # a known name only: no path tricks reach the file system
        raise NotFound(f"There is no lesson '{name}'. Lessons: {', '.join(lesson_names())}.")
    return markdown_page(LESSONS_DIR / f"{name}.md", name)


@bp.get("/readme")
def readme() -> str:
    """Render the project's README, its addresses pointing at this sandbox as reached."""
    path = LESSONS_DIR.parent / "README.md"
    if not path.is_file():  # installed without the project folder
        raise NotFound("This installation has no README.md; the lessons are at /lessons/<name>.")
    return markdown_page(path, "readme")


def markdown_page(path: Path, name: str) -> str:
    """Render a Markdown file as a page, with its example URLs made this server's own."""
    html = markdown.markdown(
        for_this_server(path.read_text(encoding="utf-8")),
        extensions=["fenced_code", "tables", "toc", "codehilite"],
        extension_configs={"codehilite": {"guess_lang": False}},
    )
    # A code block or table wider than the screen scrolls in its own box; tabindex lets a
    # keyboard reach it to scroll it too (arrow keys), not only a mouse or a finger.
    html = html.replace("<pre>", '<pre tabindex="0">').replace("<table>", '<table tabindex="0">')
    return render_template(
        "lesson.html",
        name=name,
        html=Markup(html),
        css=Markup(HtmlFormatter().get_style_defs(".codehilite")),
    )


@bp.get("/modules/<name>/source")
def source(name: str) -> str:
    """Show a module's source, highlighted, as the running package has it."""
    module = registry().get(name)
    formatter = HtmlFormatter(linenos="table")
    files = [
        {"path": f["path"], "html": Markup(highlight(f["text"], PythonLexer(), formatter))}
        for f in module.source_files()
    ]
    return render_template(
        "source.html",
        module=registry().describe(module),
        files=files,
        css=Markup(formatter.get_style_defs(".highlight")),
        debug=current_app.debug,
    )
