"""Validation: read a JSON body and check its fields, or say exactly what is wrong.

Form validation is the backend's "invisible logic": never trust what a client
sends. Reading is two steps with two different answers: a body that is not
JSON at all is a 400; JSON whose fields are wrong is a 422 that lists each field.

Every reader of JSON in the sandbox (this one, the request record's redaction, the
playground's echo) goes through :func:`read_json`, so they all agree on what a body says.
"""

from __future__ import annotations

import json as stdlib_json
from dataclasses import dataclass
from typing import Any

from flask import json, request

from .errors import InvalidBody, SandboxError, ValidationFailed

_TYPE_NAMES = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
}


class UnsupportedMediaType(SandboxError):
    """The body is not in a format this endpoint reads."""

    status = 415
    title = "Unsupported media type"


# What counts as blank. Python's str.isspace() and JSON Schema's "\\s" (JavaScript's rules)
# disagree: U+001F is a space to Python and not to JavaScript, U+FEFF the other way round.
# So the OpenAPI document's pattern and the code share this explicit list instead: every
# character that either of them calls white space.
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# "Has a character that is not blank", as a JSON Schema pattern (which matches anywhere).
NOT_BLANK_PATTERN = (
    r"[^\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
)


def is_blank(text: str) -> bool:
    """Return whether ``text`` is empty or only white space (by :data:`BLANK`)."""
    return not text.strip(BLANK)


# Deeper than any real document. Parsers and the code that walks their result recurse once
# per level, so "[[[[...]]]]" half a million levels deep (half a megabyte) would otherwise
# exhaust Python's stack: a crafted body must be a clear 400, never a crash.
JSON_DEPTH_MAX = 100


class JSONTooDeep(ValueError):
    """JSON nested deeper than :data:`JSON_DEPTH_MAX` levels."""


def read_json(raw: bytes | str) -> Any:
    """Parse JSON exactly as Flask does, refusing documents nested too deep.

    Bytes are decoded the way ``json.loads`` (and so Flask) decodes them: UTF-8, UTF-16
    or UTF-32, with or without a byte order mark. Raises ``ValueError`` when the text is
    not JSON, and :class:`JSONTooDeep` (a ``ValueError`` too) when it nests too deep.
    """
    try:
        data = stdlib_json.loads(raw)
    except RecursionError:  # the parser itself ran out of stack: far too deep
        raise JSONTooDeep(_too_deep_message()) from None
    if _deeper_than(data, JSON_DEPTH_MAX):
        raise JSONTooDeep(_too_deep_message())
    return data


def _too_deep_message() -> str:
    return f"nested deeper than {JSON_DEPTH_MAX} levels of [ ] or {{ }}"


def _deeper_than(value: Any, limit: int) -> bool:
    # A loop with its own stack, not recursion: measuring depth must not need depth.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


@dataclass(frozen=True)
class Field:
    """One expected field of a JSON body."""

    name: str
    type: type
    required: bool = True
    max_length: int | None = None


def json_body() -> dict[str, Any]:
    """Return the request body as a JSON object, or raise a problem that says how to fix it."""
    mimetype = request.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType(
            f"Send the body as JSON with the header 'Content-Type: application/json' "
            f"(this request said {mimetype or 'nothing'!r}). With curl: "
            "-H 'Content-Type: application/json' -d '{...}'; with requests: json={...}."
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidBody("The request body is empty. Send a JSON object, for example {}.")
    try:
        data = read_json(raw)
    except JSONTooDeep as error:
        raise InvalidBody(
            f"The body is JSON {error}. Send a flatter document; no endpoint here "
            "needs more than a few levels."
        ) from None
    except ValueError as error:
        raise InvalidBody(
            f"The body is not valid JSON ({error}). Check quotes, commas and "
            "brackets; keys need double quotes."
        ) from None
    if not isinstance(data, dict):
        raise InvalidBody(f"The body must be a JSON object ({{...}}), not {type(data).__name__}.")
    if not _is_unicode(data):
        # JSON may escape half a character ("\ud800"); no database can store that.
        raise InvalidBody(
            "The body contains a lone surrogate escape such as \\ud800, which is "
            "not a character. Send valid UTF-8 text."
        )
    return data


def _is_unicode(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(_is_unicode(k) and _is_unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_unicode(v) for v in value)
    return True


def _is(value: Any, expected: type) -> bool:
    # In Python True is an int; in JSON a boolean is not a number, so keep them apart.
    if expected is bool or isinstance(value, bool):
        return isinstance(value, bool) and expected is bool
    if expected is float:
        return isinstance(value, (int, float))
    return isinstance(value, expected)


def check(data: dict[str, Any], fields: list[Field]) -> dict[str, Any]:
    """Check ``data`` against ``fields``; raise one 422 listing every wrong field."""
    known = {f.name: f for f in fields}
    errors = [
        {"field": name, "message": f"Unknown field. Expected: {', '.join(known)}."}
        for name in data
        if name not in known
    ]
    for f in fields:
        if f.name not in data:
            if f.required:
                errors.append({"field": f.name, "message": f"Required: {_TYPE_NAMES[f.type]}."})
            continue
        value = data[f.name]
        if not _is(value, f.type):
            errors.append(
                {
                    "field": f.name,
                    "message": f"Must be {_TYPE_NAMES[f.type]}, not {json.dumps(value)[:40]}.",
                }
            )
        elif f.max_length is not None and len(value) > f.max_length:
            errors.append(
                {
                    "field": f.name,
                    "message": f"At most {f.max_length} characters ({len(value)} sent).",
                }
            )
    if errors:
        raise ValidationFailed(errors)
    return data
