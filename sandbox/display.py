"""Display: how the notebook handle's answers look in Jupyter.

Each class is plain data (a dict or a list, so code can use it) with a
``_repr_html_`` that Jupyter calls to show it as a table.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .errors import InvalidPath, NotFound
from .redact import COOKIE_HEADERS, SECRET_HEADERS, SECRET_NAME

if TYPE_CHECKING:
    import requests

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


# --- the waterfall: a request's time as a bar, and each thing it did inside it, to scale ---


def waterfall_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the record's phases, SQL statements and events in time order, for a waterfall.

    Each row: ``kind`` (span, sql or event), ``label``, ``at_ms``, ``duration_ms`` (0 for an
    event: a moment, drawn as a tick) and ``detail``, the text a hover shows. The browser's
    record panel (sandbox.js) draws the same rows from the same fields.
    """
    rows = [
        {"kind": "span", "label": s["name"], "at_ms": s["at_ms"],
         "duration_ms": s.get("duration_ms") or 0, "detail": s["name"]}
        for s in record.get("spans", [])
    ]  # fmt: skip
    for entry in record.get("sql", []):
        if entry.get("at_ms") is None:
            continue  # a record from before statements were timed
        detail = entry["sql"]
        if entry.get("params"):
            detail += "\nparams: " + json.dumps(entry["params"])
        if entry.get("plan"):
            detail += "\nplan:\n" + "\n".join(entry["plan"])
        if entry.get("error"):
            detail += "\nerror: " + entry["error"]
        rows.append(
            {"kind": "sql", "label": entry["sql"], "at_ms": entry["at_ms"],
             "duration_ms": entry.get("duration_ms") or 0, "detail": detail}
        )  # fmt: skip
    for e in record.get("events", []):
        if e.get("at_ms") is None:
            continue
        label = f"{e.get('module')}: {e.get('message')}"
        rows.append(
            {"kind": "event", "label": label, "at_ms": e["at_ms"], "duration_ms": 0,
             "detail": label}
        )  # fmt: skip
    # Stable: a span and the statement it ran, at the same moment, keep that order.
    return sorted(rows, key=lambda r: r["at_ms"])


# Inline styles, not a <style> block: JupyterLab keeps a notebook's outputs but strips every
# <style> from those it does not trust (a notebook someone else saved, opened from disk), while
# it keeps these properties in a style attribute. So the bars show wherever the table does.
_WF = {
    "wf": "font-size:12px;margin:6px 0;max-width:100%",
    "row": "display:grid;grid-template-columns:minmax(5em,30%) 1fr 5.5em;gap:6px;"
    "align-items:center;min-height:18px",
    "label": "overflow:hidden;text-overflow:ellipsis;white-space:nowrap;font-family:monospace",
    "track": "position:relative;height:12px;background:#f6f8fa;border-radius:2px",
    "bar": "position:absolute;top:1px;bottom:1px;min-width:2px;border-radius:2px",
    "ms": "text-align:right;color:#57606a",
}
_WF_COLOURS = {"request": "#8c959f", "span": "#54aeff", "sql": "#bf8700", "event": "#8250df"}


def waterfall_html(record: dict[str, Any]) -> str:
    """Draw the record's waterfall as plain HTML and CSS bars: no script, so any notebook shows it.

    Hovering a bar shows its detail (a SQL statement's text, parameters and plan) through the
    ``title`` attribute, which every browser shows without JavaScript.
    """
    total = record.get("duration_ms") or 0
    rows = waterfall_rows(record)
    if not total or not rows:
        return ""
    scale = max(total, max(r["at_ms"] + r["duration_ms"] for r in rows))

    def row(kind: str, label: str, at: float, took: float, detail: str) -> str:
        left, width = 100 * at / scale, 100 * took / scale
        width = min(width, 100 - left)
        shown = "" if kind == "event" else f"{took:.2f} ms"
        bar = f"left:{left:.2f}%;width:{width:.2f}%;{_WF['bar']};background:{_WF_COLOURS[kind]}"
        return (
            f"<div class='wf-row wf-row-{kind}' style='{_WF['row']}'>"
            f"<span class='wf-label' style='{_WF['label']}' title='{escape(label)}'>"
            f"{escape(label)}</span><span class='wf-track' style='{_WF['track']}'>"
            f"<span class='wf-bar wf-{kind}' style='{bar}' title='{escape(detail)}'></span>"
            f"</span><span class='wf-ms' style='{_WF['ms']}'>{shown}</span></div>"
        )

    whole = f"{record.get('method')} {record.get('path')}"
    lines = [row("request", whole, 0, total, f"{whole}: {total} ms in all")]
    lines += [row(r["kind"], r["label"], r["at_ms"], r["duration_ms"], r["detail"]) for r in rows]
    return (
        f"<div class='wf' style='{_WF['wf']}'>"
        + "<p><b>Waterfall</b> (hover a bar for its detail: a statement's text, parameters "
        + "and plan)</p>"
        + "".join(lines)
        + "</div>"
    )


class Trace(dict):
    """One request record, shown as a summary, the waterfall, the request, the SQL and events."""

    # Where the sandbox is served: set by the notebook handle, used by as_().
    base_url = "http://127.0.0.1:5000"

    def as_(self, format: str = "curl") -> Command:
        """Return this record's request for curl, httpie, requests or fetch (secrets as $VARS)."""
        return copy_as(self, format, self.base_url)

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
        parts.append(waterfall_html(self))
        if not self.get("parent"):  # a job's record has no request to send again
            parts.append(
                "<p style='font-size:12px'>The same request from another tool: "
                "<code>.as_('curl')</code>, <code>'httpie'</code>, <code>'requests'</code> or "
                "<code>'fetch'</code>, secrets left as variables.</p>"
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
@functools.cache
def _default_headers() -> dict[str, str]:
    # Imported here, not at the top: the server shows records without ever sending a
    # request, and importing requests was a tenth of `python app.py`'s start.
    import requests

    return {k.lower(): v for k, v in requests.utils.default_headers().items()}


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


class Command(str):
    """A command or program that sends a request, as a plain string, with ``notes`` on it."""

    notes: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        notes = "".join(f"<br>{escape(note)}" for note in self.notes)
        return (
            f"{_STYLE}<div class='sbx'><pre><code>{escape(self)}</code></pre>"
            f"<p style='font-size:12px'>{notes[4:]}</p></div>"
        )


class Curl(Command):
    """A curl command line, as a plain string, with ``notes`` on the placeholders it holds."""


def _escaped(text: str) -> str:
    # Inside "...", a POSIX shell still expands $, ` and \; a backslash keeps them as typed.
    return re.sub(r'([\\"$`])', r"\\\1", text)


def _is_secret(name: str) -> bool:
    lower = name.lower()
    return lower in SECRET_HEADERS or lower in COOKIE_HEADERS or bool(SECRET_NAME.search(name))


def _secret(name: str, value: str) -> tuple[str, str, str]:
    """Return a secret header's variable, the scheme kept before it, and where to find it.

    Every format names the same variables (AUTH, COOKIES, SANDBOX_TOKEN...), so a learner
    sets them once and replays the request from any tool.
    """
    if name.lower() == "cookie":
        names = ", ".join(p.split("=", 1)[0].strip() for p in value.split(";") if p.strip())
        where = (
            f"the cookies this request sent ({names}), not shown: sb.session.cookies.get_dict() "
            "has them (curl keeps its own with -c jar.txt -b jar.txt)."
        )
        return "COOKIES", "", where
    variable = _VARIABLES.get(name.lower()) or "H_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
    scheme, _, rest = value.partition(" ")
    # Authorization keeps its scheme (Basic, Bearer...): it teaches, the rest is the secret.
    kept = f"{scheme} " if rest and scheme.isalnum() else ""
    where = _WHERE.get(variable, f"the value of this request's {name} header, not shown.")
    return variable, kept, where


def _secret_header(name: str, value: str) -> tuple[str, str, str]:
    """Return the curl arguments for a secret header, its variable, and where to find it."""
    variable, kept, where = _secret(name, value)
    return _curl_secret(name, variable, kept), variable, where


def _curl_secret(name: str, variable: str, kept: str) -> str:
    if variable == "COOKIES":
        return '-b "$COOKIES"'
    # Double quotes, not shlex's single ones: the shell must put the variable's value in.
    return f'-H "{_escaped(name)}: {kept}${variable}"'


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
        if lower == "content-length" or _default_headers().get(lower) == value:
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


# --- "copy as": a record's request for curl, HTTPie, Python requests and JavaScript fetch ---

COPY_FORMATS = ("curl", "httpie", "requests", "fetch")

# Headers each tool sends by itself, or that only a browser sends: left out of the copy.
_LEFT_OUT = {
    "host", "content-length", "connection", "user-agent", "accept-encoding", "referer",
    "accept-language", "cache-control", "pragma", "priority", "upgrade-insecure-requests",
    "dnt", "te", "keep-alive", "transfer-encoding",
}  # fmt: skip
_ANY = "accept: */*"  # what every tool asks for anyway
_CUT = re.compile(r"\.\.\. \[\d+ (?:bytes|characters) in all\]$")


class Replay:
    """What a record says was sent: method, URL, headers (secrets as variables), body, notes.

    One reading of the record; each format (curl, httpie, requests, fetch) writes it its way.
    """

    def __init__(self, record: dict[str, Any], base_url: str):
        if record.get("parent") is not None or record["method"] not in _METHODS:
            raise InvalidPath(
                f"Record {record['id']} is {record['method']} {record['path']}: work done outside "
                "a request (a job), so there is no request to copy. Copy the request that "
                f"caused it{': ' + record['parent'] if record.get('parent') else ''}."
            )
        self.method = record["method"]
        query = urlencode(record.get("query") or {}, doseq=True, safe="[]")
        self.url = base_url.rstrip("/") + record["path"] + (f"?{query}" if query else "")
        request = record.get("request") or {}
        self.headers: list[tuple[str, str]] = []  # plain ones, as sent
        self.secrets: list[tuple[str, str, str]] = []  # (header, variable, kept scheme)
        self.variables: dict[str, str] = {}  # variable -> where to find its value
        for name, value in (request.get("headers") or {}).items():
            lower = name.lower()
            if (
                lower in _LEFT_OUT
                or lower.startswith("sec-")
                or (lower, value) == ("accept", "*/*")
            ):
                continue
            if _is_secret(name):
                variable, kept, where = _secret(name, value)
                self.secrets.append((name, variable, kept))
                self.variables[variable] = where
            else:
                self.headers.append((name, value))
        body = request.get("body")
        self.body: str | None = body if body else None
        self.notes = [f"${v}: {where}" for v, where in self.variables.items()]
        if REDACTED_WORD in self.url or (self.body and REDACTED_WORD in self.body):
            self.notes.append(
                f"{REDACTED_WORD}: a secret the record does not keep (a password, a token): "
                "put the value you sent in its place."
            )
        if self.body and (_CUT.search(self.body) or re.fullmatch(r"<\d+ bytes .*>", self.body)):
            self.notes.append(
                "The record kept only part of this body (or none of it): the copy sends what it "
                "kept. sb.last.request.body has the whole body."
            )


_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
REDACTED_WORD = "[redacted]"


def _as_curl(r: Replay) -> str:
    args = ["curl", "-I" if r.method == "HEAD" else "-i"]
    if r.method not in ("GET", "HEAD") and not (r.method == "POST" and r.body):
        args += ["-X", r.method]  # curl -d means POST already
    args += ["-H " + shlex.quote(f"{name}: {value}") for name, value in r.headers]
    args += [_curl_secret(name, variable, kept) for name, variable, kept in r.secrets]
    if r.body:
        args += ["--data-raw" if r.body.startswith("@") else "-d", shlex.quote(r.body)]
    return " ".join([*args, shlex.quote(r.url)])


def _as_httpie(r: Replay) -> str:
    # HTTPie: http METHOD URL Name:value...; --raw sends the body as it is (HTTPie 3.2+).
    args = ["http", r.method, shlex.quote(r.url)]
    args += [shlex.quote(f"{name}:{value}") for name, value in r.headers]
    args += [f'"{_escaped(name)}:{kept}${variable}"' for name, variable, kept in r.secrets]
    if r.body:
        args += ["--raw", shlex.quote(r.body)]
    return " ".join(args)


def _as_requests(r: Replay) -> str:
    lines = ["import os", "", "import requests", ""] if r.secrets else ["import requests", ""]
    lines += ["response = requests.request(", f"    {r.method!r},", f"    {r.url!r},"]
    headers = [f"        {n!r}: {v!r}," for n, v in r.headers]
    # The secrets come from environment variables: export AUTH=... before running it.
    headers += [
        f"        {n!r}: " + (f"{kept!r} + " if kept else "") + f"os.environ[{v!r}],"
        for n, v, kept in r.secrets
    ]
    if headers:
        lines += ["    headers={", *headers, "    },"]
    if r.body:
        lines.append(f"    data={r.body!r}.encode(),")
    lines += [")", "print(response.status_code, response.reason)", "print(response.text)"]
    return "\n".join(lines)


def _as_fetch(r: Replay) -> str:
    lines = []
    for _, variable, _ in r.secrets:  # in a page, a script has no environment: set them here
        lines.append(f'const {variable} = "..."; // see below: not shown')
    options = [f"  method: {json.dumps(r.method)},"]
    headers = [f"    {json.dumps(n)}: {json.dumps(v)}," for n, v in r.headers]
    headers += [f"    {json.dumps(n)}: `{kept}${{{variable}}}`," for n, variable, kept in r.secrets]
    if headers:
        options += ["  headers: {", *headers, "  },"]
    if r.body:
        options.append(f"  body: {json.dumps(r.body, ensure_ascii=False)},")
    lines += [f"const response = await fetch({json.dumps(r.url)}, {{", *options, "});"]
    lines.append("console.log(response.status, response.statusText, await response.text());")
    return "\n".join(lines)


_WRITERS = {"curl": _as_curl, "httpie": _as_httpie, "requests": _as_requests, "fetch": _as_fetch}
_FORMAT_NOTES = {
    "curl": "Windows PowerShell: type curl.exe, not curl.",
    "httpie": "HTTPie: pip install httpie (3.2 or later for --raw).",
    "requests": "Python: save it as replay.py and run python replay.py.",
    "fetch": "JavaScript: a browser's console, or node replay.mjs (Node 18+: await works "
    "at the top of a .mjs file). A page cannot set a Cookie header: there fetch sends the "
    "browser's own cookies with credentials: 'include'.",
}


def copy_as(record: dict[str, Any], format: str, base_url: str) -> Command:
    """Return the request a record describes, written for ``format``, secrets as variables.

    ``format`` is one of :data:`COPY_FORMATS`; ``base_url`` is where the sandbox is served
    (the record keeps only the path).
    """
    writer = _WRITERS.get(format)
    if writer is None:
        raise NotFound(f"No copy format '{format}': ask for one of {', '.join(COPY_FORMATS)}.")
    replay = Replay(record, base_url)
    command = Command(writer(replay))
    command.notes = (*replay.notes, _FORMAT_NOTES[format])
    return command


# --- two records side by side (sb.compare, and the browser's /sandbox/compare page) ---

_COMPARE_STYLE = (
    "<style>.sbx table.cmp{table-layout:fixed;width:100%}.sbx table.cmp td,.sbx table.cmp th"
    "{overflow-wrap:anywhere;word-break:break-word}.sbx table.cmp col.what{width:22%}"
    ".sbx table.cmp tr.differs td{background:#fff8c5}.sbx table.cmp tr.differs th"
    "{background:#f5e08a}.sbx table.cmp td.missing{color:#8c959f}.sbx table.cmp td pre"
    "{white-space:pre-wrap}</style>"
)


_SECTION_NAMES = {
    "request_headers": "request headers",
    "request_body": "request body",
    "response_headers": "response headers",
    "response_size": "response size",
    "sql": "SQL",
    "duration_ms": "timing",
    "spans": "phases",
}


def _shown(value: Any) -> str:
    if value is None:
        return "<i>none</i>"
    if isinstance(value, (dict, list)):
        return f"<code>{escape(json.dumps(value, ensure_ascii=False))}</code>"
    return escape(str(value))


def _cmp_row(what: str, row: dict[str, Any], pre: bool = False) -> str:
    cells = []
    for side in ("a", "b"):
        value = row[side]
        missing = " class='missing'" if value is None else ""
        inner = f"<pre>{escape(value)}</pre>" if pre and isinstance(value, str) else _shown(value)
        cells.append(f"<td{missing}>{inner}</td>")
    differs = "" if row["same"] else " class='differs' data-differs"
    return f"<tr{differs}><th scope='row'>{escape(what)}</th>{''.join(cells)}</tr>"


def comparison_html(data: dict[str, Any], links: dict[str, str] | None = None) -> str:
    """Show two records side by side, each row that differs highlighted.

    ``links``, when given, maps ``"a"`` and ``"b"`` to each record's URL.
    """
    a, b = escape(data["a"]), escape(data["b"])
    if links:
        a = f"<a href='{escape(links['a'])}'>{a}</a>"
        b = f"<a href='{escape(links['b'])}'>{b}</a>"
    differs = data["differs"]
    summary = (
        "They differ in: " + ", ".join(_SECTION_NAMES.get(d, d) for d in differs) + "."
        if differs
        else "No difference but their times."
    )
    rows = [
        _cmp_row("request", data["request"]),
        _cmp_row("query", data["query"]),
        _cmp_row("status", data["status"]),
        _cmp_row("module", data["module"]),
        _cmp_row("exception", data["exception"]),
        _cmp_row("duration (ms)", data["duration_ms"]),
    ]

    def section(title: str, count: int) -> str:
        return f"<tr><th colspan='3' class='cmp-section'>{escape(title)} ({count})</th></tr>"

    rows.append(section("Request headers", len(data["request_headers"])))
    rows += [_cmp_row(h["name"], h) for h in data["request_headers"]]
    rows.append(_cmp_row("request body", data["request_body"], pre=True))
    rows.append(section("Response headers", len(data["response_headers"])))
    rows += [_cmp_row(h["name"], h) for h in data["response_headers"]]
    rows.append(_cmp_row("response size (bytes)", data["response_size"]))
    rows.append(section("SQL statements, lined up", len(data["sql"])))
    rows += [_cmp_row(f"#{i}", r, pre=True) for i, r in enumerate(data["sql"], 1)]
    rows.append(section("Events, lined up", len(data["events"])))
    rows += [_cmp_row(f"#{i}", r) for i, r in enumerate(data["events"], 1)]
    rows.append(section("Phases (ms)", len(data["spans"])))
    rows += [_cmp_row(s["name"], s) for s in data["spans"]]
    return (
        _STYLE
        + _COMPARE_STYLE
        + "<div class='sbx'>"
        + f"<p data-compare-summary><b>{escape(summary)}</b> Highlighted rows differ.</p>"
        + "<table class='cmp'><colgroup><col class='what'><col><col></colgroup>"
        + f"<thead><tr><th scope='col'></th><th scope='col'>A: {a}</th>"
        + f"<th scope='col'>B: {b}</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


class Comparison(dict):
    """Two records side by side (sb.compare): each field as {"a", "b", "same"}, and differs."""

    def _repr_html_(self) -> str:
        return comparison_html(self)
