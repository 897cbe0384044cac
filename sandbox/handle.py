"""The notebook handle: start or reach a sandbox and drive it from Python.

``Sandbox.start()`` runs a real sandbox in this process, on a free port, in a
background thread; ``Sandbox.connect(url)`` reaches one running elsewhere (a
class workspace, ``python app.py``). Both talk HTTP through the same endpoints a
browser uses, so what a notebook shows and what the landing page shows never
disagree. Only ``sb.db`` and ``sb.data_dir`` go around HTTP, straight to the
files, and only for an in-process sandbox.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from . import create_app, display
from .db import DATABASE_FILE
from .registry import load_modules, shutdown


class SandboxProblem(Exception):
    """The sandbox refused a call of the handle; the message is the problem's detail."""

    def __init__(self, response: requests.Response):
        self.response = response
        try:
            self.problem = response.json()
        except ValueError:
            self.problem = {"status": response.status_code, "detail": response.text[:500]}
        super().__init__(f"{response.status_code}: {self.problem.get('detail')}")


class LocalOnly(RuntimeError):
    """The handle reaches this sandbox over HTTP only, so its files are out of reach."""


TOKEN_HEADER = "X-Sandbox-Token"


class SandboxResponse(requests.Response):
    """A ``requests`` response that also knows its record and shows itself in Jupyter."""

    @property
    def trace_id(self) -> str | None:
        """Return the id of this request's record."""
        return self.headers.get("X-Sandbox-Trace")

    @property
    def curl(self) -> display.Curl:
        """Return a curl command that sends this request again, with secrets as $VARIABLES."""
        return display.curl_command(self)

    def _repr_html_(self) -> str:
        return display.response_html(self)


class _QuietHandler(WSGIRequestHandler):
    # Every request is in the record already; a log line per request would bury a notebook.
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Sandbox:
    """A running sandbox, reached over HTTP."""

    _running: ClassVar[Sandbox | None] = None

    def __init__(self, url: str, *, data_dir: Path | None = None):
        self.url = url.rstrip("/")
        self._data_dir = data_dir
        self.session = requests.Session()
        self.last: SandboxResponse | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._db: Any = None
        self._settings: dict[str, Any] = {}
        # What this notebook works on, for sb.progress(): the module last switched on here,
        # and the first part of the last path requested ("notes" for /notes/1).
        self._switched_on: str | None = None
        self._requested: str | None = None

    # --- starting and stopping ---

    @classmethod
    def start(
        cls, data_dir: str | Path | None = None, *, port: int = 0, **settings: Any
    ) -> Sandbox:
        """Start a sandbox in this process and return its handle once it answers.

        Without ``data_dir`` it uses a fresh temporary folder, deleted by ``stop()``.
        Running this again stops the sandbox it started before.
        """
        if cls._running is not None:
            cls._running.stop()
        tmp = None
        if data_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="sandbox-", ignore_cleanup_errors=True)
            data_dir = tmp.name
        sandbox = cls("", data_dir=Path(data_dir).resolve())
        sandbox._tmp, sandbox._settings = tmp, settings
        sandbox._serve(port)
        cls._running = sandbox
        return sandbox

    def _serve(self, port: int) -> None:
        # A new app each time: what a real restart does (memory is gone, the data dir is not).
        app = create_app({**self._settings, "SANDBOX_DATA_DIR": str(self.data_dir)})
        self._server = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(0.05,),  # stop() and restart() wait at most this long
            name="sandbox-server",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_up()

    def restart(self) -> None:
        """Stop the server and start a new one on the same data dir and port, like Ctrl+C and
        ``python app.py`` again: what was only in memory is gone."""
        if self._server is None:
            raise RuntimeError(
                "restart() works for a sandbox made by Sandbox.start(); for "
                "python app.py, press Ctrl+C and start it again."
            )
        port = self._server.server_port
        self._shutdown()
        self._serve(port)

    def _shutdown(self) -> None:
        # The server first (no new request), then what the modules run in the background.
        self._server.shutdown()
        self._server.server_close()
        shutdown(self._server.app)

    @classmethod
    def connect(cls, url: str = "http://127.0.0.1:5000", *, token: str | None = None) -> Sandbox:
        """Reach a sandbox that runs elsewhere (``python app.py``), over HTTP only.

        A sandbox listening beyond loopback prints a URL with ``?token=...``: pass that URL
        as it is, or the token as ``token=``; the handle sends it with every call.
        """
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        token = token or query.pop("token", None)
        sandbox = cls(urlunsplit(parts._replace(query=urlencode(query))))
        if token:
            sandbox.session.headers[TOKEN_HEADER] = token
        sandbox._wait_until_up(timeout=3)
        return sandbox

    def _wait_until_up(self, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.session.get(self.url + "/sandbox/health", timeout=1).ok:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise ConnectionError(
                    f"No sandbox answers at {self.url}. Start one with "
                    "`python app.py` or use Sandbox.start()."
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop an in-process sandbox and delete its temporary data dir."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._server is not None:
            self._shutdown()
            self._server = None
        self.session.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        if Sandbox._running is self:
            Sandbox._running = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f", data in {self._data_dir}" if self._data_dir else ""
        return f"<Sandbox {self.url}{where}>"

    # --- calls the modules add (Module(handle={"logs": fn}) makes sb.logs(...)) ---

    def _module_calls(self) -> dict[str, Callable[..., Any]]:
        """Return the calls the sandbox's modules add to the handle, by name."""
        modules = load_modules(self._settings.get("SANDBOX_MODULES"))
        return {name: fn for m in modules for name, fn in m.handle.items()}

    def __getattr__(self, name: str) -> Any:
        # Called only for a name the handle itself does not have: a module's call, or a typo.
        if name.startswith("_"):
            raise AttributeError(name)  # copy, pickle and friends probe for dunder names
        calls = self._module_calls()
        if name in calls:
            return types.MethodType(calls[name], self)  # help(sb.logs) shows the module's doc
        raise AttributeError(
            f"'Sandbox' object has no attribute {name!r}. A module may add calls to the "
            f"handle; these are there: {', '.join(sorted(calls)) or 'none'}. "
            "dir(sb) lists every call."
        )

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._module_calls()})

    # --- requests, as the requests library makes them ---

    def url_for(self, path: str) -> str:
        """Return the full URL of a path of the sandbox (a URL the sandbox gave out, as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        prefix = urlsplit(self.url).path  # "/w/<id>" in a class workspace, else ""
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            # A path the sandbox handed out (a Location header, a link) has the prefix already:
            # resolve it the way a browser does, from the server's root.
            return urljoin(self.url, path)
        return self.url + "/" + path.lstrip("/")

    def client(self) -> requests.Session:
        """Return a new ``requests.Session`` for this sandbox: a second browser, no cookies.

        In a class workspace it carries the workspace's token, the key to the door: whoever
        it logs in as (or not) is up to it, as for any other client.
        """
        session = requests.Session()
        if TOKEN_HEADER in self.session.headers:
            session.headers[TOKEN_HEADER] = self.session.headers[TOKEN_HEADER]
        return session

    def request(self, method: str, path: str, **kwargs: Any) -> SandboxResponse:
        """Send a request to a path of the sandbox; returns a ``requests`` response."""
        response = self.session.request(method, self.url_for(path), **kwargs)
        response.__class__ = SandboxResponse  # same object, plus trace_id and a notebook view
        for hop in response.history:
            hop.__class__ = SandboxResponse
        self.last = response
        self._requested = urlsplit(response.request.path_url).path.strip("/").split("/")[0]
        return response

    def get(self, path: str, **kwargs: Any) -> SandboxResponse:
        """Send a GET request."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> SandboxResponse:
        """Send a POST request."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> SandboxResponse:
        """Send a PUT request."""
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> SandboxResponse:
        """Send a PATCH request."""
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> SandboxResponse:
        """Send a DELETE request."""
        return self.request("DELETE", path, **kwargs)

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        # The handle's own calls go around self.request, so sb.last stays the learner's request.
        response = self.session.request(method, self.url + path, **kwargs)
        if not response.ok:
            raise SandboxProblem(response)
        return response.json() if response.content else None

    # --- looking inside ---

    def trace(self, which: str | requests.Response | None = None) -> display.Trace:
        """Return the record of a request: the last one by default, or a response's, or an id."""
        if isinstance(which, requests.Response):
            which = which.headers.get("X-Sandbox-Trace")
        if which is None:
            if self.last is None or self.last.trace_id is None:
                raise LookupError("No request sent yet: send one first, e.g. sb.get(path).")
            which = self.last.trace_id
        trace = display.Trace(self._api("GET", f"/sandbox/traces/{which}"))
        trace.base_url = self.url  # where trace.as_("curl") sends the request again
        return trace

    def compare(self, a: str | requests.Response | dict, b: str | requests.Response | dict) -> Any:
        """Show two records side by side, what differs highlighted: ids, responses or traces.

        E.g. the same request with a module on, then off:
        ``sb.compare(on, off)`` where ``on = sb.get(path)`` before ``sb.disable(name)``.
        """
        ids = [self._record_id(x) for x in (a, b)]
        return display.Comparison(
            self._api("GET", "/sandbox/compare", params={"a": ids[0], "b": ids[1]})
        )

    @staticmethod
    def _record_id(which: str | requests.Response | dict) -> str:
        if isinstance(which, requests.Response):
            found = which.headers.get("X-Sandbox-Trace")
            if found is None:
                raise LookupError("That response has no record (no X-Sandbox-Trace header).")
            return found
        if isinstance(which, dict):
            return which["id"]  # a trace, from sb.trace()
        return str(which)

    def traces(self, *, everything: bool = False, limit: int = 20, **filters: Any) -> display.Table:
        """List recent records, newest first (filters: module, status, method, path).

        The handle's own calls (sb.progress(), sb.sql()...) go to /sandbox/ and are left
        out unless ``everything=True`` or a ``path`` filter asks for them.
        """
        data = self._api("GET", "/sandbox/traces", params={**filters, "limit": 500})
        everything = everything or "path" in filters  # asked for a path: show what matches
        rows = [t for t in data["traces"] if everything or not t["path"].startswith("/sandbox/")]
        return display.Table(
            rows[:limit],
            ["id", "method", "path", "status", "module", "duration_ms", "sql_count", "event_count"],
        )

    @property
    def modules(self) -> display.Table:
        """Show every module and whether it is on."""
        data = self._api("GET", "/sandbox/modules")
        return display.Table(data["modules"], ["name", "enabled", "title", "url_prefix"])

    def switch(self, **states: bool) -> display.Table:
        """Switch several modules at once: ``sb.switch(encryption=True, auth=False)``."""
        data = self._api("PATCH", "/sandbox/modules", json=states)
        self._switched_on = next((n for n, on in reversed(states.items()) if on), None)
        return display.Table(data["modules"], ["name", "enabled", "title", "url_prefix"])

    def enable(self, name: str) -> dict[str, Any]:
        """Switch a module on."""
        answer = self._api("PATCH", f"/sandbox/modules/{name}", json={"enabled": True})
        self._switched_on = name
        return answer

    def disable(self, name: str) -> dict[str, Any]:
        """Switch a module off."""
        return self._api("PATCH", f"/sandbox/modules/{name}", json={"enabled": False})

    def source(self, name: str, file: str | None = None) -> display.Source:
        """Show the code behind a module as the running sandbox has it (one file, if named)."""
        data = self._api("GET", f"/sandbox/modules/{name}/source")
        if file is not None:
            data["files"] = [f for f in data["files"] if f["path"].endswith("/" + file)]
            if not data["files"]:
                raise LookupError(f"Module {name!r} has no file {file!r}.")
        return display.Source(data)

    def progress(self, module: str | None = None, *, every: bool = False) -> display.Table:
        """Show this notebook's module's challenges and a one-line summary of the others.

        The module is the one named, else the one this notebook is about: its file name
        (``04-auth.ipynb``) when Jupyter or VS Code tells the kernel, else the module last
        switched on with ``sb.enable``, else the one of the last request. With none of
        those, one line per module. ``every=True`` lists every challenge. In a class whose
        instructor chose some challenges, only those count.
        """
        data = self._api("GET", "/sandbox/progress")
        rows = [c for c in data["challenges"] if c.get("in_scope", True)]
        columns = ["id", "title", "solved", "hint"]
        if every:
            return display.Table(rows, columns)
        known = list(dict.fromkeys(c["module"] for c in data["challenges"]))
        if module is not None and module not in known:
            raise LookupError(f"No challenges for {module!r}. Modules: {', '.join(known)}.")
        module = module or next(
            (m for m in (_notebook_module(), self._switched_on, self._requested) if m in known),
            None,
        )
        counts = {m: [0, 0] for m in known}
        for c in rows:
            counts[c["module"]][0] += bool(c["solved"])
            counts[c["module"]][1] += 1
        if module is None:
            summary = [{"module": m, "solved": s, "of": n} for m, (s, n) in counts.items() if n]
            return display.Table(
                summary,
                ["module", "solved", "of"],
                note="sb.progress('auth') lists one module's challenges, "
                "sb.progress(every=True) all of them.",
            )
        others = ", ".join(f"{m} {s}/{n}" for m, (s, n) in counts.items() if n and m != module)
        return display.Table(
            [c for c in rows if c["module"] == module],
            columns,
            note=f"Other modules: {others or 'none'}. sb.progress(every=True) lists every "
            "challenge.",
        )

    def class_progress(self) -> display.Table:
        """Show every student of a class, as the instructor's dashboard does.

        Needs an instructor token: ``Sandbox.connect(url, token=...)`` with the token that
        ``POST /class/login`` answers (or the dashboard's "Notebook token" button).
        """
        data = self._api("GET", "/class/api/students")
        rows = []
        for student in data["students"]:
            error = student["last_error"]
            rows.append(
                {
                    "name": student["name"],
                    "solved": f"{student['solved']}/{student['total']}",
                    **{
                        module: f"{counts['solved']}/{counts['total']}"
                        for module, counts in student["progress"].items()
                    },
                    "last_activity": student["last_activity"],
                    "requests_last_minute": student["requests_last_minute"],
                    "last_error": f"{error['status']} {error['path']}" if error else None,
                    "switched": ", ".join(
                        f"{m['name']} {'on' if m['enabled'] else 'off'}"
                        for m in student["switched"]
                    ),
                }
            )
        columns = ["name", "solved", *data["modules"], "last_activity"]
        columns += ["requests_last_minute", "last_error", "switched"]
        return display.Table(rows, columns)

    def hand_out(
        self, name: str, workspace: str, *, snapshot: str | None = None, start: bool = False
    ) -> dict[str, Any]:
        """Hand out a workspace's state to every student as ``class:<name>`` (instructors).

        ``snapshot``: one of that workspace's snapshots, else the workspace as it is now;
        ``start=True``: students who join from now start from it. Each student then runs
        ``sb.restore("class:<name>")`` in their own workspace.
        """
        body = {"name": name, "workspace": workspace, "snapshot": snapshot, "start": start}
        return self._api("POST", "/class/api/handouts", json=body)

    def handouts(self) -> display.Table:
        """List the class's hand-outs and which one new students start from (instructors)."""
        rows = self._api("GET", "/class/api/handouts")["handouts"]
        columns = ["name", "taken_of", "starts_new_students", "created_at", "notes", "rows"]
        return display.Table(rows, columns)

    def reset(self) -> dict[str, Any]:
        """Put data, toggles and progress back to the start, and forget this handle's cookies."""
        self.session.cookies.clear()
        return self._api("POST", "/sandbox/reset")

    def snapshot(self, name: str) -> dict[str, Any]:
        """Save this workspace's notes, accounts, keys, switches and progress as ``name``."""
        return self._api("POST", "/sandbox/snapshots", json={"name": name})

    def restore(self, name: str) -> dict[str, Any]:
        """Put this workspace back to snapshot ``name``: its rows, switches and keys, at once."""
        return self._api("POST", f"/sandbox/snapshots/{quote(name, safe='')}/restore")

    def snapshots(self) -> display.Table:
        """List this workspace's snapshots, newest first, then the instructor's hand-outs."""
        rows = self._api("GET", "/sandbox/snapshots")["snapshots"]
        for row in rows:
            row.setdefault("from", "you")
        return display.Table(rows, ["name", "from", "created_at", "notes", "rows", "bytes"])

    def sql(self, query: str, *, explain: bool = False) -> display.Table:
        """Run a read-only SQL statement through the sandbox's SQL console."""
        data = self._api("POST", "/sandbox/sql", json={"sql": query, "explain": explain})
        rows = [dict(zip(data["columns"], row, strict=True)) for row in data["rows"]]
        return display.Table(rows, data["columns"], plan=data.get("plan"), note=data.get("note"))

    def _local_only(self, what: str) -> Path:
        """Return the data folder, or say why a connected handle has none."""
        if self._data_dir is None:
            raise LocalOnly(
                f"{what} reaches into the sandbox's folder on this computer, so it works only "
                "for a sandbox started here with Sandbox.start(). This one was reached with "
                "Sandbox.connect() (a class workspace, or python app.py): its files stay on "
                'its server. Read its tables with sb.sql("select ...") instead, or run '
                "this notebook with a sandbox of your own: sb = Sandbox.start()."
            )
        return self._data_dir

    @property
    def data_dir(self) -> Path:
        """Return the sandbox's data folder (in-process sandboxes only)."""
        return self._local_only("sb.data_dir")

    @property
    def db(self) -> Any:
        """Return a ``sqlite_utils.Database`` on the sandbox's file (in-process sandboxes only)."""
        data_dir = self._local_only("sb.db")
        if self._db is None:
            import sqlite3

            import sqlite_utils

            # check_same_thread=False: Jupyter may run cells on different threads.
            conn = sqlite3.connect(data_dir / DATABASE_FILE, check_same_thread=False)
            self._db = sqlite_utils.Database(conn)
        return self._db


def _notebook_module() -> str | None:
    """Return the module in the running notebook's file name (04-auth.ipynb), if it is known.

    JupyterLab and Notebook 7 give the kernel the notebook's path in JPY_SESSION_NAME;
    VS Code puts it in the variable __vsc_ipynb_file__. Elsewhere there is none.
    """
    paths = [os.environ.get("JPY_SESSION_NAME", "")]
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    if shell is not None:
        paths += [
            str(shell.user_ns.get(name, "")) for name in ("__vsc_ipynb_file__", "__session__")
        ]
    for path in paths:
        if match := re.search(r"(?:^|[/\\])\d+-(\w+)\.ipynb$", path):
            return match.group(1)
    return None
