"""Display: how the notebook handle's answers look in Jupyter.

Each class is plain data (a dict or a list, so code can use it) with a
``_repr_html_`` that Jupyter calls to show it as a table.
"""

from __future__ import annotations

import json
import re
import shlex
from html import escape
from typing import Any

import requests

from .redact import COOKIE_HEADERS, SECRET_HEADERS, SECRET_NAME

STATUS_COLORS = {2: "#1a7f37", 3: "#0969da", 4: "#bc4c00", 5: "#cf222e"}

_STYLE = (
    "<style>.sbx table{border-collapse:collapse;font-size:13px;margin:4px 0}"
    ".sbx table.sbx-table td,.sbx table.sbx-table th{border:1px solid #d0d7de;"
    "padding:3px 8px;text-align:left;"
    "vertical-align:top}.sbx th{background:#f6f8fa}.sbx pre{margin:0;white-space:pre-wrap;"
    "max-height:24em;overflow:auto}.sbx code{font-size:12px}</style>"
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "✅" if value else "—"
    if isinstance(value, (dict, list)):
        return f"<code>{escape(json.dumps(value))}</code>"
    return escape("" if value is None else str(value))


# On each cell itself, not only in the <style> above: JupyterLab right-aligns table cells
# with a rule as specific as ours that may come later, and it strips <style> from the
# saved outputs of a notebook it does not trust, while an inline style survives both.
_CELL = "style='text-align:left;vertical-align:top'"


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th {_CELL}>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td {_CELL}>{_cell(r.get(c))}</td>" for c in columns) + "</tr>"
        for r in rows
    )
    return f"<table class='sbx-table'><tr>{head}</tr>{body}</table>"


def _pairs(mapping: dict[str, Any]) -> str:
    return _table([{"name": k, "value": v} for k, v in mapping.items()], ["name", "value"])


def _status(code: int | None, reason: str = "") -> str:
    color = STATUS_COLORS.get((code or 0) // 100, "#57606a")
    return f"<b style='color:{color}'>{code} {escape(reason)}</b>"


class Table(list):
    """Rows of dicts, shown as an HTML table; ``plan`` and ``note`` come from the SQL console."""

    def __init__(
        self,
        rows: list[dict[str, Any]],
        columns: list[str],
        *,
        plan: list[dict[str, Any]] | None = None,
        note: str | None = None,
    ):
        super().__init__(rows)
        self.columns = columns
        self.plan = plan
        self.note = note

    def _repr_html_(self) -> str:
        html = _STYLE + "<div class='sbx'>" + _table(self, self.columns)
        if self.note:
            html += f"<p>{escape(self.note)}</p>"
        if self.plan is not None:
            html += (
                "<p><b>Query plan</b></p><pre>"
                + escape("\n".join(p["detail"] for p in self.plan))
                + "</pre>"
            )
        return html + "</div>"


class Trace(dict):
    """One request record, shown as a summary, the request, the SQL and the events."""

    def _repr_html_(self) -> str:
        request, response = self.get("request", {}), self.get("response", {})
        parts = [
            f"<p>{escape(self['method'])} <code>{escape(self['path'])}</code> → "
            f"{_status(self.get('status'))} in {self.get('duration_ms')} ms · module "
            f"<b>{escape(str(self.get('module')))}</b> · "
            f"record <code>{escape(self['id'])}</code>"
            # With several worker processes (--workers), which one answered.
            + (f" · worker process {self['worker']}" if self.get("worker") else "")
            + "</p>",
        ]
        if self.get("parent"):
            # Work done outside a request (a job): which request caused it, on which thread.
            parts.append(
                f"<p>Outside a request, on thread <code>{escape(str(self.get('thread')))}</code>"
                f" · caused by record <code>{escape(self['parent'])}</code></p>"
            )
        parts += [
            "<details><summary>Request headers</summary>"
            + _pairs(request.get("headers", {}))
            + "</details>",
        ]
        if request.get("body"):
            parts.append(f"<p><b>Body</b></p><pre>{escape(request['body'])}</pre>")
        parts.append(
            "<details><summary>Response headers</summary>"
            + _pairs(response.get("headers", {}))
            + "</details>"
        )
        parts.append(f"<p><b>SQL</b> ({len(self.get('sql', []))} statements)</p>")
        if self.get("sql"):
            parts.append(_table(self["sql"], ["sql", "params", "duration_ms"]))
        parts.append(f"<p><b>Events</b> ({len(self.get('events', []))})</p>")
        if self.get("events"):
            parts.append(_table(self["events"], ["module", "message"]))
        if self.get("exception"):
            parts.append(
                f"<p><b>Exception</b></p><pre>{escape(self['exception']['traceback'])}</pre>"
            )
        return _STYLE + "<div class='sbx'>" + "".join(parts) + "</div>"


class Source(dict):
    """A module's source files, shown one after the other."""

    def _repr_html_(self) -> str:
        return (
            _STYLE
            + "<div class='sbx'>"
            + "".join(
                f"<p><b>{escape(f['path'])}</b></p><pre><code>{escape(f['text'])}</code></pre>"
                for f in self["files"]
            )
            + "</div>"
        )


# --- the same request with curl ---

# Headers requests adds by itself: curl sends its own, so the line leaves them out.
_DEFAULT_HEADERS = {k.lower(): v for k, v in requests.utils.default_headers().items()}
# A body longer than this goes to a file: a one-line command of 2,000 characters reads badly.
BODY_SHOWN = 400
# Shell variables that stand for secrets, by header; any other secret header gets its own name.
_VARIABLES = {"x-sandbox-token": "SANDBOX_TOKEN", "authorization": "AUTH"}
_WHERE = {
    "SANDBOX_TOKEN": "the token you gave Sandbox.connect (a class workspace's page shows it "
    "under From a notebook or a terminal): export SANDBOX_TOKEN=... first.",
    "AUTH": "the credentials this request sent, not shown. For Basic, curl -u USER:PASSWORD "
    "builds the whole header; for Bearer, it is the token the server gave you.",
}


class Curl(str):
    """A curl command line, as a plain string, with ``notes`` on the placeholders it holds."""

    notes: tuple[str, ...] = ()


def _escaped(text: str) -> str:
    # Inside "...", a POSIX shell still expands $, ` and \; a backslash keeps them as typed.
    return re.sub(r'([\\"$`])', r"\\\1", text)


def _is_secret(name: str) -> bool:
    lower = name.lower()
    return lower in SECRET_HEADERS or lower in COOKIE_HEADERS or bool(SECRET_NAME.search(name))


def _secret_header(name: str, value: str) -> tuple[str, str, str]:
    """Return the curl arguments for a secret header, its variable, and where to find it."""
    if name.lower() == "cookie":
        names = ", ".join(p.split("=", 1)[0].strip() for p in value.split(";") if p.strip())
        where = (
            f"the cookies this request sent ({names}), not shown: sb.session.cookies.get_dict() "
            "has them (curl keeps its own with -c jar.txt -b jar.txt)."
        )
        return '-b "$COOKIES"', "COOKIES", where
    variable = _VARIABLES.get(name.lower()) or "H_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    scheme, _, rest = value.partition(" ")
    # Authorization keeps its scheme (Basic, Bearer...): it teaches, the rest is the secret.
    shown = f"{scheme} ${variable}" if rest and scheme.isalnum() else f"${variable}"
    where = _WHERE.get(variable, f"the value of this request's {name} header, not shown.")
    # Double quotes, not shlex's single ones: the shell must put the variable's value in.
    return f'-H "{_escaped(name)}: {shown}"', variable, where


def _body(request: requests.PreparedRequest) -> tuple[list[str], list[str]]:
    """Return the curl arguments that send the request's body, and a note if it is a file."""
    body = request.body
    if not body:
        return [], []
    size = len(body)
    try:
        text = body.decode() if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        text = None
    if text is None or len(text) > BODY_SHOWN:
        kind = request.headers.get("Content-Type", "")
        file = "body.json" if "json" in kind else "body.txt" if text is not None else "body.bin"
        note = f"@{file}: this {size:,}-byte body, too long to show; save r.request.body in {file}."
        return ["--data-binary", "@" + file], [note]
    # -d would read a file for a body starting with @; --data-raw never does.
    return ["--data-raw" if text.startswith("@") else "-d", shlex.quote(text)], []


def curl_command(response: requests.Response) -> Curl:
    """Return a curl command that sends the request behind a response, secrets left out.

    The request is the first of any redirect chain; -L follows the rest, as requests
    did. On Windows PowerShell, type curl.exe: there, plain curl is another command.
    """
    first = response.history[0] if response.history else response
    request = first.request
    args = ["curl", "-I" if request.method == "HEAD" else "-i"]
    if response.history:
        args.append("-L")
    body, notes = _body(request)
    if request.method not in ("GET", "HEAD") and not (request.method == "POST" and body):
        args += ["-X", request.method]  # curl -d means POST already
    variables: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower == "content-length" or _DEFAULT_HEADERS.get(lower) == value:
            continue  # curl counts the body itself, and sends its own defaults
        if lower == "content-type" and value == "application/x-www-form-urlencoded" and body:
            continue  # what curl -d says anyway
        if _is_secret(name):
            argument, variable, where = _secret_header(name, value)
            args.append(argument)
            variables[variable] = where
        else:
            args += ["-H", shlex.quote(f"{name}: {value}")]
    cookies_set = any("Set-Cookie" in hop.headers for hop in response.history)
    if cookies_set and "COOKIES" not in variables:
        # curl forgets cookies between redirects unless its cookie engine is on: -b turns it on.
        args += ["-b", "jar.txt", "-c", "jar.txt"]
        notes.append("jar.txt: curl's cookie jar, so the cookies set on the way are sent on.")
    args += [*body, shlex.quote(request.url or "")]
    command = Curl(" ".join(args))
    command.notes = tuple(f"${v}: {where}" for v, where in variables.items()) + tuple(notes)
    return command


def response_html(response: Any) -> str:
    """Show a response as its status line, headers, body and record id."""
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            body = json.dumps(response.json(), indent=2, ensure_ascii=False)
        except ValueError:
            body = response.text
    elif content_type.startswith("text/") or "xml" in content_type:
        body = response.text
    else:
        body = f"<{len(response.content)} bytes of {content_type or 'data'}>"
    if len(body) > 5000:
        body = body[:5000] + f"\n... ({len(body)} characters in all)"
    record = response.headers.get("X-Sandbox-Trace")
    hops = "".join(
        f"<li>{_status(h.status_code, h.reason)} {escape(h.url)}</li>" for h in response.history
    )
    return (
        _STYLE
        + "<div class='sbx'>"
        + f"<p>{_status(response.status_code, response.reason)} "
        + f"<code>{escape(response.request.method)} {escape(response.url)}</code>"
        + (f" · record <code>{escape(record)}</code> (sb.trace())" if record else "")
        + "</p>"
        + (f"<p>Redirected through:</p><ol>{hops}</ol>" if hops else "")
        + "<details><summary>Headers</summary>"
        + _pairs(dict(response.headers))
        + "</details>"
        + f"<pre>{escape(body)}</pre>"
        + _curl_html(response)
        + "</div>"
    )


def _curl_html(response: Any) -> str:
    command = curl_command(response)
    notes = "".join(f"<br>{escape(note)}" for note in command.notes)
    return (
        f"<p>The same request with curl (r.curl):</p><pre><code>{escape(command)}</code></pre>"
        f"<p style='font-size:12px'>Windows PowerShell: type curl.exe, not curl.{notes}</p>"
    )
