"""Validation: read a JSON body and check its fields, or say exactly what is wrong.

Form validation is the backend's "invisible logic": never trust what a client
sends. Reading is two steps with two different answers: a body that is not
JSON at all is a 400; JSON whose fields are wrong is a 422 that lists each field.
"""

from __future__ import annotations

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
        data = json.loads(raw)
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
