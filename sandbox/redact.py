"""Redaction: keep secrets out of every request record.

A record shows a learner what a request carried, so it must never keep what an
attacker could reuse: passwords, tokens, session cookies. Names stay visible
(a learner can still see *that* a cookie or a password was sent); values go.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

REDACTED = "[redacted]"

# A field is secret when its name looks like one of these (password, api_key, csrf_token...).
SECRET_NAME = re.compile(r"pass|pwd|token|secret|api[-_]?key|credential|signature|csrf", re.I)

# Headers whose whole value is a credential. For Authorization the scheme stays visible.
SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "x-auth-token"}
COOKIE_HEADERS = {"cookie", "set-cookie"}

# In a body we could not parse, catch `"password": "..."` and `password=...` anyway.
_LOOSE_JSON = re.compile(
    r'("[^"]*(?:pass|pwd|token|secret|api[-_]?key|credential)[^"]*"\s*:\s*)'
    r'"(?:[^"\\]|\\.)*"',
    re.I,
)
_LOOSE_FORM = re.compile(
    r"((?:^|[&\s])[^=&\s]*(?:pass|pwd|token|secret|api[-_]?key)[^=&\s]*=)"
    r"[^&\s]*",
    re.I,
)


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
        value = header(name, value)
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def fields(value: Any) -> Any:
    """Redact secret-named fields anywhere in a JSON-like structure."""
    if isinstance(value, dict):
        return {k: REDACTED if SECRET_NAME.search(str(k)) else fields(v) for k, v in value.items()}
    if isinstance(value, list):
        return [fields(v) for v in value]
    return value


def path(value: str, view_args: dict[str, Any] | None) -> str:
    """Redact path segments that a route names like a secret (``/basic-auth/<user>/<passwd>``)."""
    secrets = {str(v) for k, v in (view_args or {}).items() if SECRET_NAME.search(k) and v != ""}
    if not secrets:
        return value
    return "/".join(REDACTED if part in secrets else part for part in value.split("/"))


def query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Redact query-string pairs; a repeated key becomes a list."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        value = REDACTED if SECRET_NAME.search(key) else value
        if key in out:
            out[key] = out[key] if isinstance(out[key], list) else [out[key]]
            out[key].append(value)
        else:
            out[key] = value
    return out


def body(data: bytes, content_type: str | None, limit: int) -> str | None:
    """Return a redacted, size-limited text excerpt of a request body."""
    if not data:
        return None
    mimetype = (content_type or "").split(";")[0].strip().lower()
    text = data.decode("utf-8", errors="replace")
    if mimetype == "application/json" or mimetype.endswith("+json"):
        try:
            text = json.dumps(fields(json.loads(text)), ensure_ascii=False)
        except ValueError:
            text = _LOOSE_JSON.sub(rf'\1"{REDACTED}"', text)
    elif mimetype == "application/x-www-form-urlencoded":
        pairs = parse_qsl(text, keep_blank_values=True)
        text = urlencode(
            [(k, REDACTED if SECRET_NAME.search(k) else v) for k, v in pairs], safe="[]"
        )
    elif mimetype.startswith("multipart/"):
        return f"<{mimetype} body, {len(data)} bytes; its fields and files are not kept>"
    else:
        if b"\x00" in data[:1024]:
            return f"<{len(data)} bytes of binary data>"
        text = _LOOSE_FORM.sub(rf"\1{REDACTED}", _LOOSE_JSON.sub(rf'\1"{REDACTED}"', text))
    if len(text) > limit:
        text = text[:limit] + f"... [{len(data)} bytes in all]"
    return text
