"""Lessons: every module has a lesson and a notebook, and the lesson's exercises are its challenges.

Like datasette's documentation tests, these walk the registry, so a module added
without its lesson, or a challenge renamed without its exercise, fails here.
Each exercise is a level-3 heading under "## Exercises" that is a challenge's
title, followed by the challenge's id in backticks.
"""

from __future__ import annotations

import json
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


# --- the order trap: a lesson states the module states it expects, and one request gets them ---

BULK_SWITCH = re.compile(r"-d '(\{.*?\})' http://127\.0\.0\.1:5000/sandbox/modules\b")
NOTEBOOK_SWITCH = re.compile(r"`sb\.switch\((.*?)\)`")
# A request a hint names with a concrete path (one with a <placeholder> needs its id first).
HINT_REQUEST = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[^\s,:;<()]*[^\s,:;<().])(?![<\w/])")
# A hint that sets up its own states or its own user says so; it is not run from the lesson's.
OWN_SETUP = re.compile(r"auth on|log in|register|make a token|switch \w+ off", re.I)


def before_you_start(name: str) -> str:
    """Return the lesson's "Before you start" section, code blocks included."""
    text = (ROOT / "lessons" / f"{name}.md").read_text(encoding="utf-8")
    match = re.search(r"^## Before you start\s*$(.*?)(?=^## )", text, re.M | re.S)
    assert match, f"lessons/{name}.md has no '## Before you start' section"
    return match.group(1)


def expected_states(name: str) -> dict[str, bool]:
    """Return the states the lesson's one request sets, checked against its notebook cell."""
    section = before_you_start(name)
    assert "**This lesson expects**" in section, f"lessons/{name}.md states no expected modules"
    curl = BULK_SWITCH.search(section)
    assert curl, f"lessons/{name}.md has no one request to PATCH /sandbox/modules"
    states = json.loads(curl.group(1))
    cell = NOTEBOOK_SWITCH.search(section)
    assert cell, f"lessons/{name}.md has no sb.switch(...) cell"
    in_cell = {k: v == "True" for k, v in re.findall(r"(\w+)=(True|False)", cell.group(1))}
    assert in_cell == states, "the curl and the notebook cell must set the same states"
    for module, on in states.items():
        assert f"`{module}` {'on' if on else 'off'}" in section, f"the prose omits {module}"
    return states


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_every_lesson_states_the_modules_it_expects_and_its_own_is_on(module):
    states = expected_states(module.name)
    assert states.get(module.name) is True, "a lesson expects its own module on"
    assert set(states) <= {m.name for m in MODULES}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.name)
def test_the_hints_work_from_the_lessons_states_whatever_came_before(client, module):
    # The worst order: every lesson before left its module on (auth and ratelimit too).
    for other in MODULES:
        client.patch(f"/sandbox/modules/{other.name}", json={"enabled": True})
    switched = client.patch("/sandbox/modules", json=expected_states(module.name))
    assert switched.status_code == 200, switched.text
    on = {m["name"]: m["enabled"] for m in switched.json["modules"]}
    assert all(on[n] == v for n, v in expected_states(module.name).items())
    tried = []
    for challenge in module.challenges:
        if OWN_SETUP.search(challenge.hint):
            continue
        for method, path in HINT_REQUEST.findall(challenge.hint):
            answer = client.open(path, method=method, json={} if method != "GET" else None)
            tried.append(path)
            assert answer.status_code not in (401, 403, 404), (
                f"{challenge.id}: the hint's {method} {path} answers {answer.status_code}: "
                f"{answer.text[:200]}"
            )
    if module.name == "encryption":  # the trap the issue found: the share link's hint
        assert "/api/notes/1/share" in tried
