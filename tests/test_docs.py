"""Documentation tests: what the README promises is true."""

from __future__ import annotations

import re
from pathlib import Path

from sandbox.registry import load_modules
from sandbox.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_the_install_and_test_commands_ci_runs():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    assert blocks[0].strip() == "python -m pip install -r requirements.txt && python app.py"
    assert blocks[1].strip() == "python -m pytest"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.strip().splitlines()[-1] == blocks[1].strip()


def test_every_setting_is_documented():
    for setting in SETTINGS:
        assert f"`{setting.name}`" in README, setting.name


def test_every_module_is_listed_in_the_readme():
    for module in load_modules():
        assert f"| `{module.name}` |" in README, module.name
