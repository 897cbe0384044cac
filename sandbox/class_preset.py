"""The class preset: a TOML file that sets up the room (``--class-config class.toml``).

It says the room's name, which modules every new workspace starts with, which ones a
student may switch, which challenges count, how long the join code works and how
many students may join. ``class.example.toml`` at the top of the project shows
every key. Every key is optional; a key the sandbox does not know stops the server
at start with a message that names it, because a typo (``swichable``) silently
ignored would leave a room unlocked.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, before it joined the standard library
    import tomli as tomllib

NAME_MAX = 80

# Every key the file may hold (a dict: a table of keys); any other is refused by name.
KEYS: dict[str, Any] = {
    "name": None,
    "modules": {"on": None, "switchable": None},
    "challenges": {"in_scope": None},
    "join": {"code_expires_after_minutes": None, "max_workspaces": None},
}


class PresetError(ValueError):
    """The preset file cannot be read, or holds a key or value the sandbox does not know."""


@dataclass(frozen=True)
class Preset:
    """A class's setup, read from its TOML file (or the defaults, without one)."""

    name: str = "Class"
    path: str | None = None  # the file it came from
    # None: as on a laptop (each module's own default); else the modules that start on.
    modules_on: tuple[str, ...] | None = None
    # None: a student may switch every module; else only these.
    switchable: tuple[str, ...] | None = None
    # None: every challenge counts; else these challenge ids.
    in_scope: tuple[str, ...] | None = None
    code_minutes: int | None = None
    max_workspaces: int | None = None
    text: str = field(default="", repr=False)  # the file as written, shown on the dashboard

    def fingerprint(self) -> str:
        """Return a digest of what the preset decides about modules (to notice a change)."""
        decided = {"on": self.modules_on, "switchable": self.switchable}
        return hashlib.sha256(json.dumps(decided, sort_keys=True).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """Return the preset as the dashboard's JSON shows it."""
        return {
            "name": self.name,
            "file": self.path,
            "modules_on": self.modules_on,
            "switchable": self.switchable,
            "challenges_in_scope": self.in_scope,
            "join_code_expires_after_minutes": self.code_minutes,
            "max_workspaces": self.max_workspaces,
        }


def load(path: str | Path, modules: dict[str, Any]) -> Preset:
    """Read and check a preset file against the loaded modules, or raise PresetError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PresetError(f"Cannot read the class preset {path}: {error}.") from None
    return parse(text, str(path.resolve()), modules)


def parse(text: str, path: str, modules: dict[str, Any]) -> Preset:
    """Check a preset's text against the loaded modules, or raise PresetError."""
    where = Path(path).name
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        # The parser's message names the line and column: "Expected '=' (at line 3, column 7)".
        raise PresetError(f"{where} is not valid TOML: {error}.") from None
    _no_unknown_keys(data, KEYS, where, "")
    challenges = {c.id: m.name for m in modules.values() for c in m.challenges}
    join = data.get("join", {})
    return Preset(
        name=_name(data.get("name", "Class"), where),
        path=path,
        modules_on=_module_list(data.get("modules", {}), "on", modules, where),
        switchable=_module_list(data.get("modules", {}), "switchable", modules, where),
        in_scope=_in_scope(data.get("challenges", {}), modules, challenges, where),
        code_minutes=_positive(join, "code_expires_after_minutes", where),
        max_workspaces=_positive(join, "max_workspaces", where),
        text=text,
    )


def _no_unknown_keys(data: dict[str, Any], known: dict[str, Any], where: str, at: str) -> None:
    for key, value in data.items():
        if key not in known:
            choices = ", ".join(f"{at}{k}" for k in known)
            raise PresetError(f"{where}: unknown key '{at}{key}'. Known keys here: {choices}.")
        if isinstance(known[key], dict):
            if not isinstance(value, dict):
                raise PresetError(f"{where}: '{at}{key}' must be a table ([{at}{key}]).")
            _no_unknown_keys(value, known[key], where, f"{at}{key}.")


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        raise PresetError(f"{where}: 'name' must be text of 1 to {NAME_MAX} characters.")
    return " ".join(value.split())


def _strings(value: Any, key: str, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PresetError(f'{where}: \'{key}\' must be a list of names, like ["a", "b"].')
    return value


def _module_list(
    table: dict[str, Any], key: str, modules: dict[str, Any], where: str
) -> tuple[str, ...] | None:
    if key not in table:
        return None
    names = _strings(table[key], f"modules.{key}", where)
    unknown = [n for n in names if n not in modules]
    if unknown:
        raise PresetError(
            f"{where}: 'modules.{key}' names no module called {unknown[0]!r}. "
            f"Modules of this server: {', '.join(modules)}."
        )
    return tuple(dict.fromkeys(names))


def _in_scope(
    table: dict[str, Any], modules: dict[str, Any], challenges: dict[str, str], where: str
) -> tuple[str, ...] | None:
    if "in_scope" not in table:
        return None
    ids: list[str] = []
    for entry in _strings(table["in_scope"], "challenges.in_scope", where):
        if entry in modules:  # a module's name: all of its challenges
            ids += [c.id for c in modules[entry].challenges]
        elif entry in challenges:
            ids.append(entry)
        else:
            raise PresetError(
                f"{where}: 'challenges.in_scope' lists {entry!r}, which is neither a module "
                f"nor a challenge. Use a module's name ({', '.join(modules)}) or a challenge "
                "id as GET /sandbox/progress lists them."
            )
    return tuple(dict.fromkeys(ids))


def _positive(table: dict[str, Any], key: str, where: str) -> int | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PresetError(f"{where}: 'join.{key}' must be a whole number of at least 1.")
    return value
