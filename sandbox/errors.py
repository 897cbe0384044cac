"""Errors: one helper builds every error answer, as RFC 9457 problem details.

A problem is JSON with a fixed shape that any client can read:
``{"type", "title", "status", "detail", ...}`` served as ``application/problem+json``.
Every refusal in the sandbox goes through :func:`problem`, so a learner sees one
shape everywhere, always with a ``detail`` that says what to do next.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, Response, json, render_template, request, url_for
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

PROBLEM_JSON = "application/problem+json"


class SandboxError(Exception):
    """Base for every error the sandbox raises on purpose; answered as a problem."""

    status = 400
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        self.headers = headers or {}  # e.g. WWW-Authenticate on a 401, Retry-After on a 429
        self.extra = extra


class DatabaseBusy(SandboxError):
    """Too many writes waiting for the database: try again in a moment."""

    status = 503
    title = "Database busy"


class InvalidBody(SandboxError):
    """The request body could not be read (malformed JSON, wrong shape)."""

    title = "Invalid request body"


class InvalidQuery(SandboxError):
    """A query-string parameter is unknown or has a value that does not fit."""

    title = "Invalid query parameter"


class InvalidPath(SandboxError):
    """A part of the URL's path (``/status/<code>``) has a value that does not fit."""

    title = "Invalid path parameter"


class ValidationFailed(SandboxError):
    """The body was readable but its fields are wrong; ``errors`` names each one.

    Each error says where (``loc``: the path to the value, ``field``: its top-level
    name), what was wrong (``message``), how to fix it (``fix``) and what was sent
    (``input_type``), so a client can show each message beside its own field.
    """

    status = 422
    title = "Validation failed"
    what = "fields"  # what the errors are in, as the detail names them

    def __init__(self, errors: list[dict[str, Any]], detail: str | None = None):
        errors = [_complete(e) for e in errors]
        names = ", ".join(dict.fromkeys(e["field"] for e in errors))
        super().__init__(
            detail
            or f"Fix these {self.what} and send the request again ({len(errors)} "
            f"error{'s' if len(errors) != 1 else ''}): {names}.",
            errors=errors,
        )


class InvalidQueryFields(ValidationFailed):
    """The query string's parameters are wrong; ``errors`` names each one (loc: query, name)."""

    title = "Invalid query parameter"
    what = "query parameters"


class InvalidHeaders(ValidationFailed):
    """A request header has a value that does not fit; ``errors`` names each (loc: header, name)."""

    title = "Invalid header"
    what = "headers"


def _complete(error: dict[str, Any]) -> dict[str, Any]:
    # An error written by hand (a rule no schema can say: "this username is taken") gets
    # the same shape as one from a model; its message says how to fix it already.
    return {
        "loc": [error["field"]],
        "fix": error["message"],
        "type": "value_error",
        "input_type": "unknown",
        **error,
    }


class NotFound(SandboxError):
    """The thing asked for does not exist."""

    status = 404
    title = "Not found"


class Unauthorized(SandboxError):
    """Nobody is logged in where someone must be: 401, with how to authenticate."""

    status = 401
    title = "Authentication required"


class Forbidden(SandboxError):
    """Someone is logged in but may not do this: 403."""

    status = 403
    title = "Forbidden"


class ModuleOff(SandboxError):
    """A route belongs to a module that is switched off."""

    status = 404
    title = "Module is off"

    def __init__(self, name: str):
        super().__init__(
            f"Module '{name}' is off, so its routes answer 404. Turn it on with "
            f'PATCH /sandbox/modules/{name} {{"enabled": true}}, '
            f"with sb.enable('{name}') in a notebook, "
            f"with `python app.py enable {name}` on the command line, "
            "or with its switch on the landing page.",
            module=name,
        )


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> Response:
    """Build an ``application/problem+json`` response (RFC 9457)."""
    from .record import current_record  # imported here: record imports nothing from us

    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    body.update(extra)
    record = current_record()
    if record is not None:
        body["trace"] = record.id
    return Response(json.dumps(body, indent=2) + "\n", status=status, mimetype=PROBLEM_JSON)


# What to tell a learner for the HTTP errors Flask and werkzeug raise themselves.
_DETAILS = {
    400: "The request could not be understood. Check its syntax and send it again.",
    404: "No route matches {method} {path}. GET / lists the modules and their routes.",
    405: "{method} is not allowed on {path}. Use one of: {allowed}.",
    413: "The request body is larger than the limit of {limit} bytes. Send a smaller body.",
    415: "This endpoint does not accept the Content-Type '{content_type}'.",
}


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    allowed = ""
    if status == 405 and getattr(error, "valid_methods", None):
        allowed = ", ".join(sorted(error.valid_methods))
    template = _DETAILS.get(status)
    if template:
        detail = template.format(
            method=request.method,
            path=request.path,
            allowed=allowed,
            limit=request.max_content_length,
            content_type=request.content_type or "",
        )
    else:
        detail = error.description or HTTP_STATUS_CODES.get(status, "Error")
    if _wants_html():
        response = Response(
            render_template("error.html", status=status, title=error.name, detail=detail),
            status=status,
        )
    else:
        response = problem(status, detail, title=error.name)
    if allowed:
        response.headers["Allow"] = allowed
    return response


def answer(error: SandboxError) -> Response:
    """Answer a SandboxError: a problem, or an HTML page for a browser on a page route."""
    if isinstance(error, ModuleOff) and prefers_html():
        # A browser that followed a "Try it" link: a page that says what is wrong and has
        # the switch, not raw JSON. curl, fetch() and requests ask for JSON (or anything)
        # and still get the problem.
        name = error.extra["module"]
        response = Response(
            render_template(
                "module_off.html",
                status=error.status,
                title=error.title,
                detail=error.detail,
                module=name,
                toggle_url=url_for("sandbox.toggle_module", name=name),
            ),
            status=error.status,
        )
        response.vary.add("Accept")
        return response
    if _wants_html():
        response = Response(
            render_template(
                "error.html", status=error.status, title=error.title, detail=error.detail
            ),
            status=error.status,
        )
    else:
        response = problem(error.status, error.detail, title=error.title, **error.extra)
        if isinstance(error, ModuleOff):
            response.vary.add("Accept")  # a browser gets a page at the same URL
    response.headers.update(error.headers)
    return response


def _server_error(error: InternalServerError) -> Response:
    from .record import current_record

    record = current_record()
    if record is not None and error.original_exception is not None:
        record.set_exception(error.original_exception)
    where = f" GET /sandbox/traces/{record.id} shows the traceback." if record else ""
    return problem(
        500,
        "The sandbox failed while answering this request; this is a bug in the "
        f"sandbox, not in your request.{where}",
    )


def _database_error(error: sqlite3.OperationalError) -> Response:
    """A database too busy to write in time is a 503 to retry; any other error is a bug."""
    from .record import current_record, event

    if "locked" not in str(error) and "busy" not in str(error):
        return _server_error(InternalServerError(original_exception=error))
    record = current_record()
    if record is not None:
        event("sandbox", "database busy: every writer waited its turn and this one ran out")
    return answer(
        DatabaseBusy(
            "The database had more writes queued than it could finish in time, so the write "
            "this request asked for was not made: send it again in a moment.",
            headers={"Retry-After": "1"},
        )
    )


def prefers_html() -> bool:
    """Return whether the client asks for HTML before JSON, as a browser following a link does.

    A browser's Accept names text/html first; curl sends */*, and fetch() and requests
    send */* or application/json: for those JSON, the first one offered, wins.
    """
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > 0


def _wants_html() -> bool:
    """Answer a browser on a page route with HTML; everything else gets JSON."""
    return request.blueprint in ("pages", "notes") and prefers_html()


def init_app(app: Flask) -> None:
    """Answer every error as a problem (or an HTML page for a browser on a page route)."""
    app.register_error_handler(SandboxError, answer)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(sqlite3.OperationalError, _database_error)
    app.register_error_handler(HTTPException, _http_error)
