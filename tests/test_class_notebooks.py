"""Notebooks in a class: the workspace's own address, a curl line per answer, a way in.

A student reaches their workspace from a notebook with the line the workspace's page
shows (``Sandbox.connect(url, token=...)``); every answer then shows the same request
as a curl command for that address, with the secrets left as shell variables.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
import requests
from helpers import Student
from test_notebooks import NOTEBOOK_DIR, NOTEBOOKS, code_cells, execute

from sandbox import Sandbox
from sandbox.handle import LocalOnly

# The notebooks that work over HTTP alone, so a class workspace runs them; the others open
# the sandbox's files (sb.db, sb.data_dir), which only a sandbox of one's own has.
IN_A_WORKSPACE = {
    "01-server.ipynb": "server",
    "03-api.ipynb": "api",
    "06-caching.ipynb": "caching",
    "07-indexing.ipynb": "indexing",
    "10-validation.ipynb": "validation",
    "11-logging.ipynb": "logging",
}
# Notebooks that need no local file but still must run on a sandbox of one's own, and why.
OWN_SANDBOX_ONLY = {
    "09-ratelimit.ipynb": "it floods the server on purpose, and a class server is shared",
    "12-testing.ipynb": "coverage measures the sandbox in the notebook's own process",
}
CURL_MISSING = (
    "curl is not on PATH: install it (Debian/Ubuntu: sudo apt-get install -y curl; macOS has "
    "it; Windows 10+: curl.exe is built in) to check the curl lines notebooks show"
)


def connect_line(student: Student) -> str:
    """Return the notebook line a student copies from their workspace's page, as a browser
    that opened the workspace's link once (its token now in a cookie) sees it."""
    with requests.Session() as browser:
        page = browser.get(student.url, params={"token": student.token}, timeout=30)
    assert page.status_code == 200, page.text
    found = re.search(r"sb = Sandbox\.connect\([^<]*\)", page.text)
    assert found, "the workspace page shows no Sandbox.connect line"
    return html.unescape(found.group())


def solved(student: Student) -> set[str]:
    challenges = student.get("sandbox/progress").json()["challenges"]
    return {c["id"] for c in challenges if c["solved"]}


# --- the class line in every notebook ---


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_says_what_to_do_in_a_class(path: Path):
    notebook = nbformat.read(path, as_version=4)
    first = next(i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code")
    assert "sb = Sandbox.start()" in notebook.cells[first].source
    before = notebook.cells[first - 1].source
    assert notebook.cells[first - 1].cell_type == "markdown"
    if path.name in IN_A_WORKSPACE:
        assert "*From a notebook*" in before and "`sb = Sandbox.connect(...)`" in before
    else:  # in a class too: say so in the intro, and keep Sandbox.start()
        intro = "".join(cell.source for cell in notebook.cells[:first])
        assert "a sandbox of your own" in intro and "Sandbox.start()`" in before


def test_the_notebooks_that_need_local_files_are_the_ones_that_say_so():
    # A notebook that reaches for the files cannot run in a workspace: it must say so, and
    # one that says so must really need them, or have another reason written down (else it
    # would send students away for nothing).
    for path in NOTEBOOKS:
        sources = "\n".join(cell.source for cell in code_cells(path))
        needs_files = "sb.db" in sources or "sb.data_dir" in sources
        own_only = needs_files or path.name in OWN_SANDBOX_ONLY
        assert own_only == (path.name not in IN_A_WORKSPACE), path.name


# --- the card on the workspace's page ---


def test_the_workspace_page_shows_how_to_connect_with_its_token(ada, bob):
    line = connect_line(ada)
    assert line == f'sb = Sandbox.connect("{ada.url}", token="{ada.token}")'
    page = ada.get("")
    assert page.headers["Cache-Control"] == "no-store"  # it holds the key to the workspace
    start = page.text.index("data-connect")
    card = page.text[start : page.text.index("</section>", start)]
    assert "<details>" in card  # closed until asked for: the token is not on screen by default
    assert "From a notebook or a terminal" in card
    assert f"export SANDBOX_TOKEN={ada.token}" in card
    assert f'curl -i -H "X-Sandbox-Token: $SANDBOX_TOKEN" {ada.url}sandbox/progress' in card
    # Each student's page shows their own workspace and token, never a classmate's.
    assert ada.token not in bob.get("").text and bob.token in bob.get("").text
    # The line works as it is: it reaches Ada's workspace, and only hers.
    namespace: dict = {"Sandbox": Sandbox}
    exec(line, namespace)  # noqa: S102 - the very line a student pastes into a notebook
    sb = namespace["sb"]
    try:
        sb.get("/server/status/418")
        assert "server.teapot" in solved(ada) and "server.teapot" not in solved(bob)
    finally:
        sb.stop()


def test_a_sandbox_of_ones_own_shows_no_card(live):
    page = live.get("/")
    assert page.status_code == 200
    assert "data-connect" not in page.text and "Sandbox.connect(" not in page.text
    assert page.headers.get("Cache-Control") != "no-store"


def test_the_class_front_page_shows_no_card(room):
    page = requests.get(room.url + "/", timeout=30)
    assert page.status_code == 200 and "data-connect" not in page.text


# --- a connected handle has no files ---


def test_a_connected_handle_says_why_it_has_no_database_file(ada):
    sb = Sandbox.connect(ada.url, token=ada.token)
    try:
        for reach in (lambda: sb.db, lambda: sb.data_dir):
            with pytest.raises(LocalOnly, match=r"sb\.sql\(") as error:
                reach()
            assert "Sandbox.connect" in str(error.value) and "Sandbox.start()" in str(error.value)
        assert sb.sql("select count(*) as n from notes")[0]["n"] == 3  # what to use instead
    finally:
        sb.stop()


def test_a_path_the_sandbox_handed_out_is_not_prefixed_twice(ada):
    sb = Sandbox.connect(ada.url, token=ada.token)
    try:
        created = sb.post("/api/notes", json={"title": "Mine"})
        location = created.headers["Location"]
        assert location.startswith(f"/w/{ada.workspace}/api/notes/")
        assert sb.get(location).json()["title"] == "Mine"
        # A second client of the same workspace: its token, none of the handle's cookies.
        with sb.client() as other:
            assert other.get(sb.url_for(location)).json()["title"] == "Mine"
            assert not other.cookies
    finally:
        sb.stop()


# --- the curl line under each answer ---

CASES = {
    "query": lambda sb: sb.get("/server/get", params={"q": 'it\'s "quoted" & $HOME `id`'}),
    "json": lambda sb: sb.post("/server/post", json={"title": "it's $HOME", "tags": ["a b"]}),
    "form": lambda sb: sb.put("/server/put", data={"size": "large", "note": "a'b"}),
    "header": lambda sb: sb.get("/server/headers", headers={"X-Mood": "it's $5 `now`"}),
    "delete": lambda sb: sb.delete("/server/anything/notes/7"),
    "basic": lambda sb: sb.get("/server/basic-auth/alice/wonderland", auth=("alice", "wonderland")),
    "bearer": lambda sb: sb.get("/server/bearer", headers={"Authorization": "Bearer my-token"}),
    "cookie": lambda sb: sb.get("/server/cookies", cookies={"theme": "dark"}),
    "redirects": lambda sb: sb.get("/server/redirect/2"),
    "set-cookie": lambda sb: sb.get("/server/cookies/set", params={"flavour": "oatmeal"}),
    "long body": lambda sb: sb.post("/server/anything", json={"text": "x" * 2000}),
}
# What a learner puts in the shell variables the notes name.
AUTH = {"basic": "YWxpY2U6d29uZGVybGFuZA==", "bearer": "my-token"}


def run_curl(command: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run a curl line in a POSIX shell; return the last status and its record id."""
    if shutil.which("curl") is None:
        pytest.fail(CURL_MISSING, pytrace=False)
    done = subprocess.run(
        ["sh", "-c", command + " -sS"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    statuses = re.findall(r"^HTTP/[\d.]+ (\d{3})", done.stdout, re.M)
    traces = re.findall(r"^X-Sandbox-Trace: (\S+)", done.stdout, re.M | re.I)
    return int(statuses[-1]), traces[-1]


def same_request(sb: Sandbox, mine: str, curls: str) -> None:
    """Assert two records are of the same request: method, path, query, body, own headers."""
    a, b = sb.trace(mine), sb.trace(curls)
    for key in ("method", "path", "query", "status"):
        assert a[key] == b[key], key
    assert a["request"]["body"] == b["request"]["body"]
    own = ("Authorization", "Cookie", "Content-Type")
    for name in [k for k in a["request"]["headers"] if k.startswith("X-") or k in own]:
        assert a["request"]["headers"][name] == b["request"]["headers"].get(name), name


@pytest.mark.parametrize("case", CASES)
def test_the_curl_line_sends_the_same_request_to_the_workspace(ada, bob, case, tmp_path):
    sb = Sandbox.connect(ada.url, token=ada.token)
    try:
        response = CASES[case](sb)
        command = response.curl
        html_ = response._repr_html_()
        shown = html_[html_.index("The same request with curl") :]  # (a body may echo more)
        # No secret in the line, nor in the notebook's display of it.
        for secret in (ada.token, "d29uZGVybGFuZA", "my-token", "dark"):
            assert secret not in command and secret not in shown, secret
        assert command.startswith("curl ") and "\n" not in command
        assert html.escape(str(command)) in shown and "curl.exe" in shown
        assert f"{ada.url}server/" in command  # this workspace's own address
        assert '-H "X-Sandbox-Token: $SANDBOX_TOKEN"' in command
        assert any(note.startswith("$SANDBOX_TOKEN:") for note in command.notes)
        env = {"SANDBOX_TOKEN": ada.token, "COOKIES": "theme=dark", "AUTH": AUTH.get(case, "")}
        if "@body.json" in command:
            (tmp_path / "body.json").write_bytes(response.request.body)
        status, trace = run_curl(command, env, tmp_path)
        assert status == response.status_code
        same_request(sb, response.trace_id, trace)
        if case == "set-cookie":  # the cookie set on the way was sent back, as requests did
            assert "server.cookies" in solved(ada)
        assert not solved(bob)  # it went to Ada's workspace, and nowhere else
    finally:
        sb.stop()


def test_the_curl_line_of_a_sandbox_of_ones_own_needs_no_token(tmp_path):
    with Sandbox.start(tmp_path / "data") as sb:
        response = sb.post("/server/post", json={"title": "Mine"})
        assert response.curl.startswith("curl -i ")
        assert "X-Sandbox-Token" not in response.curl and sb.url + "/server/post" in response.curl
        assert not response.curl.notes
        status, trace = run_curl(response.curl, {}, tmp_path)
        assert status == 200
        same_request(sb, response.trace_id, trace)


# --- the notebooks that work over HTTP, run in a class workspace ---


@pytest.mark.parametrize("name", IN_A_WORKSPACE)
def test_a_notebook_run_in_a_workspace_solves_its_challenges_there(ada, bob, name):
    notebook = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    first = next(cell for cell in notebook.cells if cell.cell_type == "code")
    # What the notebook asks a student to do: the page's line instead of Sandbox.start().
    assert first.source.count("sb = Sandbox.start()") == 1
    first.source = first.source.replace("sb = Sandbox.start()", connect_line(ada))
    execute(notebook, name)
    module = IN_A_WORKSPACE[name]
    challenges = ada.get("sandbox/progress").json()["challenges"]
    wanted = {c["id"] for c in challenges if c["module"] == module}
    assert wanted and wanted <= solved(ada), wanted - solved(ada)
    assert not solved(bob)  # a classmate's workspace: untouched
