"""Notebooks: each runs top to bottom in a fresh kernel, is saved clean and drives the package.

CI executes every notebook, so a lesson's notebook cannot drift from the code it
teaches. The kernel is found from the installed ipykernel package (jupyter_client
falls back to it when no "python3" kernelspec is installed), so a plain
``pip install -r requirements.txt`` is all these tests need.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))

# Signs of sandbox code pasted into a notebook instead of imported from the package.
PASTED = re.compile(r"\bFlask\(|\bcreate_app\(|\bmake_server\(|\bBlueprint\(")


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    """Return the code cells of a notebook, as saved."""
    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


def execute(notebook: nbformat.NotebookNode, name: str) -> None:
    """Run a notebook top to bottom in a fresh kernel, as a learner would; fail with its error."""
    # The working directory is notebooks/, as when a learner opens the notebook in Jupyter.
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    # The kernel imports the package of this checkout, the one under test, whatever copy
    # `pip install -e` points at.
    pythonpath = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # A notebook that measures for a while (09-ratelimit's three runs) measures for less
    # when this is set, and says so where it reads it: the same cells run, on fewer samples.
    env = {**os.environ, "PYTHONPATH": pythonpath, "SANDBOX_NOTEBOOK_QUICK": "1"}
    try:
        client.execute(env=env)
    except CellExecutionError as error:
        # The error's text holds the failing cell's source and its traceback.
        pytest.fail(f"{name} failed:\n{error}", pytrace=False)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path):
    execute(nbformat.read(path, as_version=4), path.name)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_saved_without_outputs(path: Path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3"
    for number, cell in enumerate(code_cells(path), start=1):
        assert cell.outputs == [], f"code cell {number} of {path.name} has stored outputs"
        assert cell.execution_count is None, f"code cell {number} of {path.name} was run"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_shows_this_sandboxs_address_not_a_hard_coded_one(path: Path):
    # A class workspace, a proxy prefix or Sandbox.start()'s port: never 127.0.0.1:5000. The
    # curl line under each answer (r.curl) says the address of the sandbox really in use.
    text = path.read_text(encoding="utf-8")
    assert "127.0.0.1:5000" not in text, f"{path.name} names 127.0.0.1:5000"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_the_package_and_pastes_no_server_code(path: Path):
    sources = [cell.source for cell in code_cells(path)]
    assert any("from sandbox import Sandbox" in source for source in sources)
    for source in sources:
        match = PASTED.search(source)
        assert match is None, f"{path.name} builds a server itself ({match.group()}): {source!r}"
