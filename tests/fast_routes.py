"""Build each URL rule's builder once per test run, not once per app (a test-only speed-up).

Werkzeug writes and compiles a small Python function for every route of every app it
builds (Rule._compile_builder): about three quarters of create_app()'s time, and the suite
builds well over a thousand apps with the same 160-odd routes. The function depends only
on the rule's parts and the names of its defaults (it reads the rule's converters through
its ``self`` argument when called), so the one compiled for the first app serves every
later app with the same rule. A rule with a default for one of its variables has that
default folded into its code: such rules are compiled as before, every time.

Tests only: the app itself builds its routes once per process, where this would save
nothing. If werkzeug ever drops or changes the private method, nothing is patched and the
suite is just slower.
"""

from __future__ import annotations

import inspect

from werkzeug.routing import Rule

_original = getattr(Rule, "_compile_builder", None)
_builders: dict[tuple, object] = {}


def _compile_builder_once(self: Rule, append_unknown: bool = True):
    """Return the builder compiled for an identical rule before, or compile it now."""
    defaults = self.defaults or {}
    if any(dynamic and part in defaults for dynamic, part in self._trace):
        return _original(self, append_unknown)
    key = (tuple(self._trace), tuple(str(name) for name in defaults), append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _original(self, append_unknown)
    return builder


def install() -> None:
    """Patch werkzeug's Rule, if it still has the method with the signature this expects."""
    if _original is None or list(inspect.signature(_original).parameters) != [
        "self",
        "append_unknown",
    ]:
        return
    Rule._compile_builder = _compile_builder_once
