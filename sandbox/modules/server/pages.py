"""The playground's own pages: the list of its endpoints at /server/, and a sample form.

httpbin's root is a page that lists its endpoints; this one is built from the routes
themselves (their paths, methods and docstrings), so it can never leave one out.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app, render_template, url_for

from .views import bp

# One heading per file of this module, in the order a learner meets the ideas.
SECTIONS = {
    "views": "Requests: methods, inspection, redirects and cookies",
    "responses": "Responses: status codes, headers, caching, formats and encodings",
    "auth": "Authentication: Basic, Bearer and Digest",
    "dynamic": "Dynamic data: generated, streamed, ranged and delayed",
    "pages": "Pages",
}

# Values for the path parameters of the example links; then, per endpoint, what to change
# or add (query parameters worth trying).
SAMPLE_ARGS = {
    "anything": "anything",
    "codes": "418",
    "n": "3",
    "offset": "0",
    "user": "user",
    "passwd": "passwd",
    "qop": "auth",
    "algorithm": "MD5",
    "stale_after": "never",
    "etag": "my-etag",
    "value": "SFRUUEJJTiBpcyBhd2Vzb21l",
    "name": "flavour",
}
SAMPLE_QUERIES: dict[str, dict[str, Any]] = {
    "server.set_cookie": {"value": "oatmeal"},
    "server.set_cookies": {"flavour": "oatmeal", "size": "large"},
    "server.delete_cookies": {"flavour": "", "size": ""},
    "server.response_headers": {"Content-Type": "text/plain; charset=UTF-8", "Server": "httpbin"},
    "server.redirect_to": {"url": "/server/get", "status_code": 307},
    "server.drip": {"numbytes": 5, "duration": 5, "code": 200},
    "server.stream_bytes": {"seed": 42},
    "server.random_bytes": {"seed": 42},
}

# werkzeug writes a converter into the rule ("<path:anything>"); show just "<anything>".
CONVERTER = re.compile(r"<(?:[^>]*:)?(\w+)>")


def _endpoint(rule) -> dict[str, Any]:
    methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
    view = current_app.view_functions[rule.endpoint]
    example = None
    if "GET" in methods:
        args = {arg: SAMPLE_ARGS[arg] for arg in rule.arguments}
        args.update(SAMPLE_QUERIES.get(rule.endpoint, {}))
        example = url_for(rule.endpoint, **args)
    return {
        "path": CONVERTER.sub(r"<\1>", rule.rule),
        "methods": methods,
        "summary": (view.__doc__ or "").strip().splitlines()[0],
        "example": example,
    }


def sections() -> list[dict[str, Any]]:
    """Return the playground's endpoints, grouped by the file that defines them."""
    grouped: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint.startswith("server."):
            view = current_app.view_functions[rule.endpoint]
            grouped[view.__module__.rpartition(".")[2]].append(_endpoint(rule))
    return [{"title": SECTIONS[name], "endpoints": found} for name, found in grouped.items()]


@bp.get("/")
def index() -> str:
    """List every endpoint of the playground, with an example link for each GET."""
    return render_template("server_index.html", sections=sections())


@bp.get("/forms/post")
def forms_post() -> str:
    """Show an HTML form that posts its fields to /server/post."""
    return render_template("server_forms_post.html")
