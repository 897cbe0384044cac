"""Documentation tests: what the README promises is true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import url_for

from sandbox import create_app
from sandbox.registry import BUILTIN_MODULES, load_modules
from sandbox.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_install_and_test_commands_ci_runs():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    install = blocks[0].strip().splitlines()
    # The virtual environment first: installing into the system's Python and then reading
    # "make a venv" is the order a new student trips on.
    assert install[0].startswith("python -m venv") and ".venv" in install[1]
    assert install[-1] == "python -m pip install -r requirements.txt && python app.py"
    assert blocks[1].strip() == "python -m pytest"
    before_tests = README[: README.index(blocks[1])]
    # Said before the command: the browser tests need Chromium, and how long the run takes.
    assert "Chromium" in before_tests and "minutes" in before_tests
    # python app.py serves; it opens no browser, so the README must not promise one.
    assert "serves the sandbox at http://127.0.0.1:5000/" in README
    assert "opens http" not in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.strip().splitlines()[-1] == blocks[1].strip()


def test_every_setting_is_documented():
    for setting in SETTINGS:
        assert f"`{setting.name}`" in README, setting.name


def test_every_module_is_listed_in_the_readme():
    for module in load_modules():
        assert f"| `{module.name}` |" in README, module.name


def core_files() -> list[Path]:
    """Return the core's code, templates and schema: everything outside sandbox/modules/."""
    package = ROOT / "sandbox"
    return [
        path
        for path in sorted(package.rglob("*"))
        if path.suffix in (".py", ".html", ".sql", ".js") and "modules" not in path.parts
    ]


def test_the_core_names_no_module():
    # A module's name in the core (an import, an endpoint, a route) is a hook the module
    # interface lacks. Only the registry's list of built-ins names them, by dotted path.
    names = [module.name for module in load_modules()]
    # /class/api is the class dashboard's JSON (sandbox/class_dashboard.py), not a module's.
    mention = re.compile(
        "|".join(
            rf"modules\.{n}\b|['\"]{n}\.\w|(?<!/class)/{n}/|(?<!/class)/{n}\b(?!-)" for n in names
        )
    )
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in core_files()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if mention.search(line)
        and not (path.name == "registry.py" and line.strip().startswith('"sandbox.modules.'))
    ]
    assert not found, "\n".join(found)


BUILTINS = list(BUILTIN_MODULES)


@pytest.mark.parametrize(
    "modules",
    [(path,) for path in BUILTINS] + [tuple(BUILTINS[:2]), tuple(BUILTINS[::-1])],
    ids=lambda modules: "+".join(path.rsplit(".", 1)[1] for path in modules),
)
def test_the_pages_work_with_any_subset_of_modules(tmp_path, modules):
    app = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "data"), "SANDBOX_MODULES": modules})
    client = app.test_client()
    html = {"Accept": "text/html"}
    for path in ["/", "/notes/", "/notes/new", "/lessons/server", "/sandbox/modules"]:
        assert client.get(path, headers=html).status_code == 200, path
    page = client.get("/notes/", headers=html).get_data(as_text=True)
    for module in load_modules(modules):
        assert client.get(f"/modules/{module.name}/source", headers=html).status_code == 200
        for label, endpoint in module.nav_links:  # each module's own links, on every page
            with app.test_request_context():
                assert f'<a href="{url_for(endpoint)}">{label}</a>' in page
    assert client.post("/sandbox/reset").status_code == 200
    assert client.post("/api/notes", json={"title": "x"}).status_code in (201, 404)
