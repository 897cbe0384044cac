"""The test-only route speed-up (tests/fast_routes.py) builds exactly the URLs werkzeug would."""

from __future__ import annotations

import fast_routes
from werkzeug.routing import PathConverter, Rule
from werkzeug.routing.converters import NumberConverter


def sample(converter) -> object:
    """Return a value this converter turns into a URL part."""
    if isinstance(converter, NumberConverter):
        return 7
    if isinstance(converter, PathConverter):
        return "a/b c"
    return "x y/ü"


def test_it_is_in_use_so_the_suite_stays_fast():
    assert Rule._compile_builder is fast_routes._compile_builder_once, (
        "werkzeug's Rule._compile_builder changed: update tests/fast_routes.py (or drop it)"
    )


def test_every_route_builds_the_same_url_as_werkzeugs_own_builder(app):
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 100
    for rule in rules:
        values = {name: sample(conv) for name, conv in rule._converters.items()}
        for append_unknown in (False, True):
            own = fast_routes._original(rule, append_unknown).__get__(rule, None)
            shared = rule._build_unknown if append_unknown else rule._build
            extra = {"page": "2", "q": "a b"} if append_unknown else {}
            assert shared(**values, **extra) == own(**values, **extra), rule.rule


def test_a_second_app_reuses_the_builders_of_the_first(app, tmp_path):
    from sandbox import create_app

    again = create_app({"SANDBOX_DATA_DIR": str(tmp_path / "again")})
    first = {r.rule: r for r in app.url_map.iter_rules()}
    reused = [
        r for r in again.url_map.iter_rules() if r._build.__func__ is first[r.rule]._build.__func__
    ]
    assert len(reused) > 100
