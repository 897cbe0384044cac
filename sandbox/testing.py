"""The sandbox's pytest plugin, by the name pytest knows it: ``pytest -p sandbox.testing``.

Installed with the package, pytest loads it by itself (the ``pytest11`` entry point in
pyproject.toml). It is a gathering: each built-in module may bring a pytest plugin of its
own, as ``pytest_plugin.py`` in its folder, and this one loads them all (pytest imports
the names in ``pytest_plugins`` along with it). So the fixtures and options a module gives
tests live with that module, its view-source page shows them, and the core names none.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sandbox.registry import BUILTIN_MODULES

# Looked up as files: finding them must not import every module just to start pytest.
_PACKAGE = Path(importlib.util.find_spec("sandbox").origin).parent

pytest_plugins = [
    f"{dotted}.pytest_plugin"
    for dotted in BUILTIN_MODULES
    if (_PACKAGE.parent / dotted.replace(".", "/") / "pytest_plugin.py").is_file()
]
