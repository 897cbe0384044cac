"""Display: how the notebook handle's answers look in Jupyter.

Each class is plain data (a dict or a list, so code can use it) with a
``_repr_html_`` that Jupyter calls to show it as a table.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

STATUS_COLORS = {2: "#1a7f37", 3: "#0969da", 4: "#bc4c00", 5: "#cf222e"}

_STYLE = (
    "<style>.sbx table{border-collapse:collapse;font-size:13px;margin:4px 0}"
    ".sbx td,.sbx th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;"
    "vertical-align:top}.sbx th{background:#f6f8fa}.sbx pre{margin:0;white-space:pre-wrap;"
    "max-height:24em;overflow:auto}.sbx code{font-size:12px}</style>"
)


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "✅" if value else "—"
    if isinstance(value, (dict, list)):
        return f"<code>{escape(json.dumps(value))}</code>"
    return escape("" if value is None else str(value))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


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
            f"record <code>{escape(self['id'])}</code></p>",
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
        + f"<pre>{escape(body)}</pre></div>"
    )
