"""Validation: read a JSON body and check its fields, or say exactly what is wrong.

Form validation is the backend's "invisible logic": never trust what a client
sends. Reading is two steps with two different answers: a body that is not
JSON at all is a 400; JSON whose fields are wrong is a 422 that lists each field.

What a valid body is, is written once, as a pydantic model (a class with typed
fields). The same model checks a request (:func:`parse`) and describes it in the
OpenAPI document (:func:`components`), so the document and the code cannot disagree.

Every reader of JSON in the sandbox (this one, the request record's redaction, the
playground's echo) goes through :func:`read_json`, so they all agree on what a body says.
"""

from __future__ import annotations

import json as stdlib_json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from flask import request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, GetCoreSchemaHandler
from pydantic import ValidationError as PydanticError
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from .errors import (
    InvalidBody,
    InvalidHeaders,
    InvalidQueryFields,
    SandboxError,
    ValidationFailed,
)

B = TypeVar("B", bound=BaseModel)
Q = TypeVar("Q", bound="Query")
H = TypeVar("H", bound="Headers")


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
# "Has a character that is not blank", as a JSON Schema pattern (which matches anywhere),
# written from BLANK itself so the document's pattern and the code cannot disagree.
NOT_BLANK_PATTERN = "[^" + "".join(f"\\u{ord(c):04x}" for c in BLANK) + "]"


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
    if _brackets(raw) > JSON_DEPTH_MAX and _deeper_than(data, JSON_DEPTH_MAX):
        raise JSONTooDeep(_too_deep_message())
    return data


def _brackets(raw: bytes | str) -> int:
    # Nothing nests deeper than it has opening brackets: counting them (in C, at memory
    # speed) spares walking the document when it cannot be too deep, as almost none is. In
    # UTF-16 or UTF-32 a character may hold the bracket's byte too: counted more, never less.
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


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


# --- what a valid body is: pydantic models, one per body ---


class Body(BaseModel):
    """Base of every request body: JSON's types as JSON means them, and no unknown field.

    ``strict``: "5" is not the number 5 and 1 is not true (pydantic would otherwise
    convert them, and the document says integer, boolean). ``forbid``: a misspelt field
    ("titel") is an error to fix, not a value silently dropped.
    """

    model_config = ConfigDict(strict=True, extra="forbid")


def _whole(value: Any) -> Any:
    # JSON has one kind of number: 3.0 is the whole number 3, as JSON Schema's "integer" says.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A whole number, written 3 or 3.0 (never "3", never true).
Whole = Annotated[int, BeforeValidator(_whole)]


@dataclass(frozen=True)
class NotBlank:
    """A string with at least one character that is not blank (by :data:`BLANK`).

    ``strip`` keeps it without the blanks around it. The document gets the same rule as a
    pattern: one rule, written once, read by both.
    """

    strip: bool = False

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> JsonSchemaValue:
        found = handler(schema)
        found["pattern"] = NOT_BLANK_PATTERN
        return found

    def _check(self, text: str) -> str:
        if is_blank(text):
            raise PydanticCustomError("blank", "Must not be empty or only spaces.")
        return text.strip(BLANK) if self.strip else text


class _Schema(GenerateJsonSchema):
    """JSON Schema as the OpenAPI document wants it: no generated titles, no null defaults."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def generate(self, schema: Any, mode: Any = "validation") -> JsonSchemaValue:
        found = super().generate(schema, mode)
        _tidy(found)
        return found


def _tidy(schema: Any) -> None:
    # "default": null on a field that may be left out but never be null would tell a client
    # it may send null.
    if isinstance(schema, dict):
        if schema.get("default", 0) is None:
            del schema["default"]
        for value in schema.values():
            _tidy(value)
    elif isinstance(schema, list):
        for value in schema:
            _tidy(value)


REF = "#/components/schemas/{model}"


def components(*models: type[BaseModel]) -> dict[str, Any]:
    """Return the OpenAPI schemas of ``models`` (and what they refer to), by model name."""
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF, schema_generator=_Schema)
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    for schema in found.values():
        schema.pop("title", None)  # a model's title is its name in components already
    return found


def parse(model: type[B], data: Mapping[str, Any]) -> B:
    """Check ``data`` against ``model``; raise one 422 that lists every wrong field."""
    try:
        return model.model_validate(data)
    except PydanticError as error:
        raise ValidationFailed(field_errors(error, model)) from None


def read(model: type[B]) -> B:
    """Read the request's JSON body (:func:`json_body`) and check it against ``model``."""
    return parse(model, json_body())


def read_optional(model: type[B]) -> B:
    """Like :func:`read` for an optional body: none at all means every field's default."""
    # A body of blanks is not "no body": json_body() says it is not JSON.
    return read(model) if request.get_data(cache=True) else parse(model, {})


# --- what a valid query string is: pydantic models too, one per list or filter ---


def _number_text(value: Any) -> Any:
    # A query string is text: "?limit=5" arrives as "5". Digits (with an optional "-") are
    # read as the number they write; anything else ("5x", "5.5", " 5", "5_0", "²", "true")
    # goes on unchanged and the strict int check refuses it. Pydantic's own lax mode would
    # accept " 5", "+5", "5_0" and "5.0", which the document's "integer" does not promise.
    if isinstance(value, str) and value.isascii() and value.removeprefix("-").isdigit():
        return int(value)
    return value


# A whole number written in a query string: "5" is 5; "5x", "5.5" and "true" are not numbers.
QueryInt = Annotated[int, BeforeValidator(_number_text)]


def query_int(low: int, high: int) -> Any:
    """Return the type "a whole number from ``low`` to ``high``, written in a query string".

    For a parameter that may be left out (``query_int(100, 599) | None``): bounds given to
    the field itself would land outside the number's own schema, and the document would
    get pydantic's names for them ("ge", "le") instead of JSON Schema's (minimum, maximum).
    """
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_number_text)]


class Query(BaseModel):
    """Base of every query string's model: each value is text, and no unknown parameter.

    Strict like :class:`Body` (a boolean is not a number), except that a :data:`QueryInt`
    reads the digits it is sent as text. ``forbid``: "?pgae=2" is a typo to fix, not a
    parameter silently ignored (the client would get page one and never know why).
    """

    model_config = ConfigDict(strict=True, extra="forbid")


def parse_query(model: type[Q], args: Mapping[str, Any]) -> Q:
    """Check a query string (``request.args``) against ``model``; one 422 lists every error."""
    # A repeated parameter ("?limit=5&limit=9") counts once, as its first value: the
    # documented parameters are single values, and Flask's args.get() read it so too.
    data = {name: args.get(name) for name in args}
    try:
        return model.model_validate(data)
    except PydanticError as error:
        raise InvalidQueryFields(_query_errors(error, model)) from None


def _query_errors(error: PydanticError, model: type[BaseModel]) -> list[dict[str, Any]]:
    expected = ", ".join(model.model_fields)
    documented = {p["name"]: p for p in query_parameters(model)}
    errors = field_errors(error, model)
    for item in errors:
        item["loc"] = ["query", *item["loc"]]  # where: in the query, not the body
        if item["type"] == "extra_forbidden":
            item["message"] = f"Unknown query parameter. Expected: {expected}."
        elif item["field"] in documented:
            # How to fix it, in the words of the document (written from the same model).
            item["fix"] = _query_fix(documented[item["field"]])
    return errors


def _query_fix(parameter: dict[str, Any]) -> str:
    schema, name = parameter["schema"], parameter["name"]
    if "enum" in schema:
        wanted = "one of " + ", ".join(str(v) for v in schema["enum"])
    elif schema.get("type") == "integer" and {"minimum", "maximum"} <= set(schema):
        wanted = f"a whole number from {schema['minimum']} to {schema['maximum']}"
    elif schema.get("type") == "integer":
        wanted = "a whole number"
    elif "pattern" in schema:
        wanted = f"text that matches {schema['pattern']}"
    elif "maxLength" in schema:
        wanted = f"text of at most {schema['maxLength']} characters"
    else:
        wanted = "text"
    described = parameter.get("description", "")
    said = f" ({described[:1].lower()}{described[1:]})" if described else ""  # not "WARNING"
    send = f"Send {name}=" if parameter["in"] == "query" else f"Send the {name} header"
    if parameter["required"]:
        return f"{send} as {wanted}{said}."
    default = f" (then {schema['default']})" if "default" in schema else ""
    return f"{send} as {wanted}{said}, or leave it out{default}."


def read_query(model: type[Q]) -> Q:
    """Check this request's query string against ``model``."""
    return parse_query(model, request.args)


def query_parameters(model: type[BaseModel], where: str = "query") -> list[dict[str, Any]]:
    """Return the OpenAPI ``parameters`` (in: query) of ``model``'s fields, in their order."""
    schema = model.model_json_schema(ref_template=REF, schema_generator=_Schema, by_alias=True)
    found = []
    for field_name, field in model.model_fields.items():
        name = field.alias or field_name
        prop = _never_null(dict(schema["properties"][name]))
        description = prop.pop("description", None) or field.description
        parameter = {"name": name, "in": where, "required": field.is_required(), "schema": prop}
        if description:
            parameter["description"] = description
        found.append(parameter)
    return found


# --- request headers: a model too, where a header's value is the client's to choose ---


class Headers(BaseModel):
    """Base of a model of request headers: each field's alias is the header's name.

    Not ``forbid``: every request carries many headers (Host, User-Agent...) the model
    does not name, and that is no error. Strict: a header's value is text.
    """

    model_config = ConfigDict(strict=True, extra="ignore")


def read_headers(model: type[H]) -> H:
    """Check this request's headers named by ``model``; one 422 lists every error."""
    names = [field.alias or name for name, field in model.model_fields.items()]
    data = {name: request.headers[name] for name in names if name in request.headers}
    try:
        return model.model_validate(data)
    except PydanticError as error:
        documented = {p["name"]: p for p in header_parameters(model)}
        errors = field_errors(error, model)
        for item in errors:
            item["loc"] = ["header", *item["loc"]]  # where: a header (its name, as sent)
            if item["field"] in documented:
                item["fix"] = _query_fix(documented[item["field"]])
        raise InvalidHeaders(errors) from None


def header_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Return the OpenAPI ``parameters`` (in: header) of a :class:`Headers` model."""
    return query_parameters(model, "header")


def _never_null(schema: dict[str, Any]) -> dict[str, Any]:
    # A query string cannot say null: "?tag=" is the empty text. So "a string or null"
    # (a field that may be left out) is documented as what can be sent: a string.
    options = [s for s in schema.get("anyOf", []) if s != {"type": "null"}]
    if len(options) == 1:
        del schema["anyOf"]
        schema = {**options[0], **schema}
    return schema


# --- from pydantic's errors to the problem's: where, what was wrong, how to fix it ---

_JSON_TYPES = {
    bool: "true or false",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "an object",
    type(None): "null",
}


# The same, as JSON Schema names them: what the ``input_type`` of an error says.
_JSON_NAMES = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def json_type(value: Any) -> str:
    """Name the JSON type of a value, as a learner would say it ("a string", "null")."""
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _excerpt(value: Any) -> str:
    try:
        text = stdlib_json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _what_was_wrong(error: Any, fields: list[str]) -> str:
    kind, ctx, sent = error["type"], error.get("ctx") or {}, error.get("input")
    messages = {
        "missing": "Required.",
        "extra_forbidden": f"Unknown field. Expected: {', '.join(fields)}.",
        "string_type": f"Must be a string, not {json_type(sent)}.",
        "int_type": f"Must be a whole number, not {json_type(sent)} ({_excerpt(sent)}).",
        "int_from_float": f"Must be a whole number, not {_excerpt(sent)}.",
        "float_type": f"Must be a number, not {json_type(sent)}.",
        "bool_type": f"Must be true or false, not {json_type(sent)} ({_excerpt(sent)}).",
        "list_type": f"Must be a list, not {json_type(sent)}.",
        "literal_error": f"Must be one of {ctx.get('expected')} (got {_excerpt(sent)}).",
        "less_than_equal": f"At most {ctx.get('le')} (got {_excerpt(sent)}).",
        "greater_than_equal": f"At least {ctx.get('ge')} (got {_excerpt(sent)}).",
    }
    if kind in messages:
        return messages[kind]
    if kind == "string_too_long":
        return f"At most {ctx['max_length']} characters ({len(sent)} sent)."
    if kind == "string_too_short":
        return f"At least {ctx['min_length']} character(s) ({len(sent)} sent)."
    if kind == "too_long":
        return f"At most {ctx['max_length']} items ({ctx.get('actual_length', len(sent))} sent)."
    if kind == "too_short":
        return f"At least {ctx['min_length']} item(s) ({len(sent)} sent)."
    return error["msg"].removeprefix("Value error, ").rstrip(".") + "."


def _where(loc: tuple[Any, ...]) -> str:
    # ("tags", 3) -> "tags[3]": the path a learner would write to reach it.
    text = str(loc[0]) if loc else "body"
    return text + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:])


def _how_to_fix(error: Any, model: type[BaseModel], name: str) -> str:
    if error["type"] == "extra_forbidden":
        return f'Remove "{name}" (or check its spelling).'
    field = model.model_fields.get(name)
    wanted = field.description if field is not None else None
    if not wanted:
        return "Send a value of the type and size the API document gives."
    return f'Send "{name}" as {wanted}.'


def field_errors(error: PydanticError, model: type[BaseModel]) -> list[dict[str, Any]]:
    """Turn pydantic's errors into the problem's ``errors``: one entry per wrong value."""
    fields = list(model.model_fields)
    found = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        name = str(loc[0]) if loc else "body"
        message = _what_was_wrong(item, fields)
        field = model.model_fields.get(name)
        if item["type"] == "missing" and field is not None and field.description:
            message = f"Required: {field.description}."
        if len(loc) > 1:  # inside a list: say which item
            message = f"{_where(loc)}: {message}"
        found.append(
            {
                "field": name,
                "loc": list(loc),
                "message": message,
                "fix": _how_to_fix(item, model, name),
                "type": item["type"],
                "input_type": "missing"
                if item["type"] == "missing"
                else _JSON_NAMES.get(type(item.get("input")), "unknown"),
            }
        )
    return found
