"""Redaction: keep secrets out of every request record.

A record shows a learner what a request carried, so it must never keep what an
attacker could reuse: passwords, tokens, session cookies. Names stay visible
(a learner can still see *that* a cookie or a password was sent); values go.
"""

from __future__ import annotations

import functools
import io
import json
import re
from typing import Any
from urllib.parse import urlencode

from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from .validation import JSONTooDeep, read_json

REDACTED = "[redacted]"

# The longest path, header value or query value a record keeps (bodies have their own
# setting, SQL its own bounds): a record shows what was sent, not a copy of a huge input.
KEPT = 1000


def excerpt(text: str, limit: int) -> str:
    """Return ``text``, or its first ``limit`` characters and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text)} characters in all]"


# A field is secret when its name looks like one of these (password, api_key, csrf_token...).
SECRET_NAME = re.compile(r"pass|pwd|token|secret|api[-_]?key|credential|signature|csrf", re.I)

# What a field name looks like: "password", "user[api_key]", "x-csrf-token".
_PLAIN_NAME = re.compile(r"[\w.\-\[\]]{1,100}")

# Headers whose whole value is a credential. For Authorization the scheme stays visible.
SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "x-auth-token"}
COOKIE_HEADERS = {"cookie", "set-cookie"}

# In free text, a secret-looking name followed by = or : and a value (quoted or not), or
# an XML-like tag named like a secret. Patterns that only find the name (from the start of a
# word: no backtracking into it); Python then decides, so no text makes them slow.
_SECRET_WORD = re.compile(r"pass|pwd|token|secret|api[-_]?key|credential", re.I)
_ASSIGNMENT = re.compile(r"""(?<![\w.\-\[\]"'])[\w.\-\[\]"']+\s*[=:]\s*""")
_VALUE = re.compile(r""""(?:[^"\\]|\\.)*"|'[^']*'|[^&\s,;]*""")
_TAG = re.compile(r"<(?!/)[^<>]*>")


@functools.lru_cache(maxsize=512)
def _kind(name: str) -> str:
    """Classify a header name once; every request sends mostly the same few names."""
    lower = name.lower()
    if lower in SECRET_HEADERS:
        return "credential"
    if lower in COOKIE_HEADERS:
        return lower
    return "secret" if SECRET_NAME.search(name) else "plain"


def header(name: str, value: str) -> str:
    """Redact one header value, keeping what is safe to show."""
    kind = _kind(name)
    if kind == "plain":
        return value
    if kind == "credential":
        scheme, _, rest = value.partition(" ")
        return f"{scheme} {REDACTED}" if rest else REDACTED
    if kind == "cookie":
        # "a=1; b=2" -> "a=[redacted]; b=[redacted]": names teach, values are secrets.
        names = [part.split("=", 1)[0].strip() for part in value.split(";") if part.strip()]
        return "; ".join(f"{n}={REDACTED}" for n in names)
    if kind == "set-cookie":
        # Keep the attributes (HttpOnly, SameSite...): they are what a learner should see.
        first, _, attributes = value.partition(";")
        name = first.split("=", 1)[0].strip()
        return f"{name}={REDACTED}" + (f";{attributes}" if attributes else "")
    return REDACTED


def headers(items: Any) -> dict[str, str]:
    """Redact a header list; repeated headers are joined the way HTTP allows."""
    out: dict[str, str] = {}
    for name, value in items:
        value = excerpt(header(name, value), KEPT)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def fields(value: Any) -> Any:
    """Redact secret-named fields anywhere in a JSON-like structure.

    Recursive: call it on what :func:`sandbox.validation.read_json` returns, which is
    never deeper than ``JSON_DEPTH_MAX`` levels.
    """
    if isinstance(value, dict):
        return {
            _name(k): REDACTED if SECRET_NAME.search(k) else fields(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [fields(v) for v in value]
    return value


def _name(key: str) -> str:
    """Keep a field's name, unless it is secret-named and not a plain name.

    ``{"password=hunter2": 1}`` or a JSON document sent as a form field name would
    otherwise carry the secret in the name itself.
    """
    if SECRET_NAME.search(key) and not _PLAIN_NAME.fullmatch(key):
        return REDACTED
    return key


def path(value: str, view_args: dict[str, Any] | None) -> str:
    """Redact path segments that a route names like a secret (``/basic-auth/<user>/<passwd>``)."""
    secrets = {str(v) for k, v in (view_args or {}).items() if SECRET_NAME.search(k) and v != ""}
    if secrets:
        value = "/".join(REDACTED if part in secrets else part for part in value.split("/"))
    return excerpt(value, KEPT)


def query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Redact query-string pairs; a repeated key becomes a list."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        value = REDACTED if SECRET_NAME.search(name) else excerpt(value, KEPT)
        key = excerpt(_name(name), KEPT)
        if key in out:
            out[key] = out[key] if isinstance(out[key], list) else [out[key]]
            out[key].append(value)
        else:
            out[key] = value
    return out


def body(data: bytes, content_type: str | None, limit: int) -> str | None:
    """Return a redacted, size-limited text excerpt of a request body.

    The body is read the way the server will read it (Flask's form parser, the JSON
    reader every route shares), so a secret cannot hide in an encoding the record does
    not understand but the route does. What cannot be read is not kept at all.
    """
    if not data:
        return None
    mimetype, options = parse_options_header(content_type or "")
    mimetype = mimetype.lower()
    if mimetype.startswith("multipart/"):
        return _not_kept(data, mimetype, "(fields and files)")
    if mimetype == "application/x-www-form-urlencoded":
        text = _form(data, mimetype, options)
    else:
        text = _json_or_text(data, mimetype, limit)
    if isinstance(text, NotKept):
        return text
    if len(text) > limit:
        text = text[:limit] + f"... [{len(data)} bytes in all]"
    return text


class NotKept(str):
    """What a record says instead of a body it does not keep."""


def _not_kept(data: bytes, mimetype: str, why: str = "that could not be parsed") -> NotKept:
    kind = mimetype or "data without a Content-Type"
    return NotKept(f"<{len(data)} bytes of {kind} {why}: not kept>")


def _form(data: bytes, mimetype: str, options: dict[str, str]) -> str:
    # werkzeug's own parser, as request.form uses it; silent=False: what it cannot read
    # (a body that is not UTF-8, say) raises instead of quietly becoming an empty form.
    parser = FormDataParser(silent=False)
    try:
        _, form, _ = parser.parse(io.BytesIO(data), mimetype, len(data), options)
    except ValueError:
        return _not_kept(data, mimetype)
    pairs = [
        (_name(k), REDACTED if SECRET_NAME.search(k) else v) for k, v in form.items(multi=True)
    ]
    return urlencode(pairs, safe="[]")


def _json_or_text(data: bytes, mimetype: str, limit: int) -> str:
    # Any body may be JSON, whatever its Content-Type says: the playground reads every
    # body as JSON, so a text/plain body that parses gets the same redaction.
    try:
        return json.dumps(fields(read_json(data)), ensure_ascii=False)
    except JSONTooDeep as error:
        return _not_kept(data, mimetype, str(error))
    except ValueError:
        pass
    if mimetype == "application/json" or mimetype.endswith("+json"):
        return _not_kept(data, mimetype)
    if b"\x00" in data[:1024]:
        return _not_kept(data, mimetype, "that look like binary data")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # UTF-16 text, Latin-1... a regex cannot read it reliably
        return _not_kept(data, mimetype)
    # Free text that no route parses: catch `password=...`, `"token": "..."`, `api_key: ...`
    # and `<password>...</password>` anyway. A best effort: send secrets as JSON or a form.
    # Only in what will be kept (one character more, so body() still says it was cut): the
    # work stays small, whatever was sent.
    text = _redact_after(text[: limit + 1], _ASSIGNMENT, _value_end)
    return _redact_after(text, _TAG, _tag_content_end)


def _redact_after(text: str, names: re.Pattern[str], value_end: Any) -> str:
    """Replace the value after each secret-looking match of ``names`` with [redacted]."""
    out, kept = [], 0
    for match in names.finditer(text):
        if match.start() < kept or not _SECRET_WORD.search(match.group()):
            continue
        out += [text[kept : match.end()], REDACTED]
        kept = value_end(text, match.end())
    return "".join(out) + text[kept:]


def _value_end(text: str, start: int) -> int:
    """Return where the value that starts at ``start`` ends: a quoted string, or a word."""
    return _VALUE.match(text, start).end()


def _tag_content_end(text: str, start: int) -> int:
    """Return where the content of a tag that ends at ``start`` ends: at the next tag."""
    end = text.find("<", start)
    return len(text) if end < 0 else end
