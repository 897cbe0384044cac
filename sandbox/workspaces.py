"""Workspaces: whose data, switches, progress and records a request reads and writes.

On your own laptop there is one workspace, ``local``. In class mode
(``python app.py --class-mode``) every student has a workspace of their own: the
whole sandbox, under a URL of its own, ``/w/<id>/``, reached with the
workspace's token. The same pages, lessons and notebooks work there unchanged,
because the app never builds a URL by hand: the prefix travels in the WSGI
``SCRIPT_NAME``, the way it does behind JupyterHub's ``/user/<name>/`` proxy, and
``url_for`` puts it in front of every link.

Every table row carries its workspace, and every piece of state the server
keeps in memory (records, the live feed, cached switches, solved challenges) is
kept per workspace by :class:`PerWorkspace`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from flask import Flask, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface

# Where the dispatcher leaves the workspace of a request, in the WSGI environ.
ENVIRON_KEY = "sandbox.workspace"
# A workspace id: short, URL-safe, made by the server (never chosen by a student).
WORKSPACE_ID = re.compile(r"[a-z0-9]{6,32}")
PREFIX = "/w/"

T = TypeVar("T")


# The workspace of work done outside a request (a job): set by record.outside_request().
_outside: ContextVar[str | None] = ContextVar("sandbox_workspace_outside", default=None)


# The request this thread is in (its WSGI environ, and the configured workspace): set by the
# dispatcher for as long as Flask handles the request. current() is asked a dozen times per
# request; this is one step, where Flask's request object is several.
_request: ContextVar[tuple[dict[str, Any], str] | None]
_request = ContextVar("sandbox_request", default=None)


def current() -> str:
    """Return the workspace of this request: the one in its URL, else the configured one."""
    known = _request.get()
    if known is not None:
        # The environ itself, not a copy: an instructor's request may point itself at a
        # student's workspace for a moment (class_room.acting_in sets it there).
        environ, configured = known
        return environ.get(ENVIRON_KEY) or _outside.get() or configured
    if has_request_context():  # a request not entered through the dispatcher (a test's)
        workspace = request.environ.get(ENVIRON_KEY)
        if workspace is not None:
            return workspace
    return _outside.get() or current_app.config["SANDBOX_WORKSPACE"]


@contextmanager
def using(workspace: str) -> Iterator[None]:
    """Work in ``workspace`` outside a request (a job a student's request started, say)."""
    token = _outside.set(workspace)
    try:
        yield
    finally:
        _outside.reset(token)


class PerWorkspace(Generic[T]):
    """One object per workspace, made on first use by ``factory(workspace)``."""

    def __init__(self, factory: Callable[[str], T]):
        self._factory = factory
        self._items: dict[str, T] = {}
        self._lock = threading.Lock()

    def get(self, workspace: str) -> T:
        """Return the workspace's object, making it the first time."""
        item = self._items.get(workspace)
        if item is None:
            with self._lock:
                item = self._items.get(workspace)
                if item is None:
                    item = self._items[workspace] = self._factory(workspace)
        return item

    def items(self) -> Iterable[tuple[str, T]]:
        """Return (workspace, object) for every workspace used so far."""
        with self._lock:
            return list(self._items.items())


class WorkspaceDispatcher:
    """WSGI middleware: ``/w/<id>/rest`` is ``/rest`` of workspace ``<id>``.

    It moves ``/w/<id>`` from the path into ``SCRIPT_NAME``, where a proxy's prefix
    goes too, so routing sees ``/rest`` and every URL the app builds starts with
    ``/w/<id>/``. Whether the request may enter the workspace (its token) is the
    guard's job, once Flask has the request.
    """

    def __init__(self, app: Callable[..., Any], config: dict[str, Any]):
        self.app, self.config = app, config

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            workspace, slash, rest = path[len(PREFIX) :].partition("/")
            if WORKSPACE_ID.fullmatch(workspace):
                if not slash:  # /w/<id> without its slash: relative links need the slash
                    return _redirect(environ, start_response, f"{PREFIX}{workspace}/")
                environ[ENVIRON_KEY] = workspace
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + PREFIX + workspace
                environ["PATH_INFO"] = "/" + rest
        # Known to current() while Flask handles the request. A streamed body is sent after
        # this returns: current() then asks Flask's request, as it always could.
        token = _request.set((environ, self.config["SANDBOX_WORKSPACE"]))
        try:
            return self.app(environ, start_response)
        finally:
            _request.reset(token)


def _redirect(environ: dict[str, Any], start_response: Callable[..., Any], path: str) -> Any:
    location = environ.get("SCRIPT_NAME", "") + path
    if environ.get("QUERY_STRING"):
        location += "?" + environ["QUERY_STRING"]
    start_response("308 Permanent Redirect", [("Location", location), ("Content-Length", "0")])
    return [b""]


# Lessons and hints are written for a sandbox on a laptop, at this address.
WRITTEN_FOR = "http://127.0.0.1:5000"


def for_this_server(text: str) -> str:
    """Return a lesson or hint with its example URLs pointing at this sandbox, as reached.

    Under a class workspace (/w/<id>/), a proxy prefix or another port, a learner copies
    a curl line that works as it is.
    """
    if not has_request_context():
        return text
    here = request.url_root.rstrip("/")
    if here == WRITTEN_FOR:
        return text
    # URLs first (they carry the prefix), then the host where it stands alone (Host: ...),
    # written either way a learner types it.
    text = text.replace(WRITTEN_FOR, here).replace(
        WRITTEN_FOR.replace("127.0.0.1", "localhost"), here
    )
    for host in (WRITTEN_FOR.split("//")[1], "localhost:5000"):
        text = text.replace(host, request.host)
    return text


class WorkspaceSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the cookie kept to its own workspace's URLs.

    Flask's session cookie is sent for every path of the site by default. Each workspace
    (and each app behind a proxy prefix) gets its own instead, with ``Path=/w/<id>/``, so
    two workspaces open in one browser never read or overwrite each other's login.
    """

    def get_cookie_path(self, app: Flask) -> str:
        if app.config.get("SESSION_COOKIE_PATH"):
            return app.config["SESSION_COOKIE_PATH"]
        return (request.script_root or "") + "/"
