"""JSON out, fast: Flask's JSON provider with orjson doing the writing where it writes the same.

Every JSON answer the sandbox sends (the API's notes, the playground's echo, a problem) is
written here. Python's own ``json`` writes indented JSON in pure Python, a character at a
time; orjson (a well-kept library written in Rust) writes the same bytes about twenty times
faster (python tests/bench/bench_speed.py measures what that buys a whole request).

The same JSON: orjson is used only for the two shapes it writes like Python does (indented
by two spaces, or compact with no spaces at all), only when the text comes out ASCII where
ASCII was asked for, and whatever it refuses (a number too big for 64 bits, a key that is
not a string, nesting deeper than 254) is written by Python's ``json`` instead. Two
differences remain, both in orjson's favour: an exponent is written ``1e16`` (Python:
``1e+16``, the same number) and a NaN becomes ``null`` (Python writes ``NaN``, which is not
JSON at all and which strict parsers refuse).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

# Dates, dataclasses and the like go to Flask's own ``default`` (an HTTP date for a
# datetime, as before), not to orjson's own way of writing them.
PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
INDENTED = PASSTHROUGH | orjson.OPT_INDENT_2
COMPACT_SEPARATORS = (",", ":")


class FastJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, writing through orjson where the result is byte-identical."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Serialize ``obj`` as json.dumps(obj, **kwargs) would, faster when it can."""
        option = _orjson_option(kwargs)
        if option is not None:
            if kwargs.get("sort_keys", self.sort_keys):
                option |= orjson.OPT_SORT_KEYS
            try:
                text = orjson.dumps(obj, default=kwargs.get("default", self.default), option=option)
            except (TypeError, orjson.JSONEncodeError):
                pass  # something orjson will not write: Python's json says what it makes of it
            else:
                # orjson writes UTF-8 (and DEL) as is; Python escapes them (\u00e9, \u007f)
                # unless told not to.
                if not kwargs.get("ensure_ascii", self.ensure_ascii) or (
                    text.isascii() and b"\x7f" not in text
                ):
                    return text.decode()
        return super().dumps(obj, **kwargs)


def _orjson_option(kwargs: dict[str, Any]) -> int | None:
    """Return orjson's option for the shape asked for, or None if only Python writes it."""
    if set(kwargs) - {"indent", "separators", "sort_keys", "ensure_ascii", "default"}:
        return None
    indent, separators = kwargs.get("indent"), kwargs.get("separators")
    if indent == 2 and separators in (None, (",", ": ")):
        return INDENTED
    if indent is None and tuple(separators or ()) == COMPACT_SEPARATORS:
        return PASSTHROUGH
    return None  # e.g. json.dumps(x) with Python's default ", " and ": " spacing


def dumps_compact(obj: Any) -> str:
    """Return compact JSON for the sandbox's own storage (records shared between workers).

    Nobody reads this text but ``json.loads``, so orjson's way of writing it is fine as it
    is; anything orjson refuses, and anything not JSON at all, is written as Python would
    with ``default=str``.
    """
    try:
        return orjson.dumps(obj, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(obj, default=str, separators=COMPACT_SEPARATORS)
