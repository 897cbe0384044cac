"""Lessons: every module has a lesson and a notebook, and the lesson's exercises are its challenges.

Like datasette's documentation tests, these walk the registry, so a module added
without its lesson, or a challenge renamed without its exercise, fails here.
Each exercise is a level-3 heading under "## Exercises" that is a challenge's
title, followed by the challenge's id in backticks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandbox.registry import load_modules

ROOT = Path(__file__).resolve().parent.parent
MODULES = load_modules()
CHALLENGE_IDS = {c.id for m in MODULES for c in m.challenges}
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def lesson_text(name: str) -> str:
    """Return a module's lesson with its code blocks removed (a `# comment` is no heading)."""
    path = ROOT / "lessons" / f"{name}.md"
    if not path.is_file():
        pytest.fail(f"module {name!r} has no lesson: write lessons/{name}.md", pytrace=False)
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def headings(text: str, level: int) -> list[str]:
    """Return the text of every heading of one level."""
    return re.findall(rf"^{'#' * level} (.+?)\s*#*$", text, re.M)


def exercises(text: str) -> str:
    """Return the "Exercises" section: from its heading to the next level-2 heading."""
    match = re.search(r"^## Exercises\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, "the lesson has no '## Exercises' section"
    return match.group(1)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_every_module_has_a_lesson_with_a_title(module):
    assert len(headings(lesson_text(module.name), 1)) == 1, "a lesson has one level-1 heading"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_every_challenge_is_an_exercise_of_its_lesson(module):
    section = exercises(lesson_text(module.name))
    titles = headings(section, 3)
    for challenge in module.challenges:
        assert challenge.title in titles, f"no exercise titled {challenge.title!r}"
        assert f"`{challenge.id}`" in section, f"the exercises do not name {challenge.id}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_every_exercise_is_a_challenge(module):
    section = exercises(lesson_text(module.name))
    titles = {c.title for c in module.challenges}
    for title in headings(section, 3):
        assert title in titles, f"exercise {title!r} is not the title of a {module.name} challenge"
    names = "|".join(re.escape(m.name) for m in MODULES)
    for challenge_id in re.findall(rf"`((?:{names})\.\w+)`", section):
        assert challenge_id in CHALLENGE_IDS, f"{challenge_id} in the exercises is no challenge"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_every_module_has_a_notebook(module):
    found = [p.name for p in (ROOT / "notebooks").glob(f"[0-9][0-9]-{module.name}.ipynb")]
    assert len(found) == 1, f"module {module.name!r} needs one notebooks/NN-{module.name}.ipynb"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_the_lesson_renders_as_a_page(client, module):
    response = client.get(f"/lessons/{module.name}")
    assert response.status_code == 200
    assert "<h1" in response.text and 'id="exercises"' in response.text
