"""Inside JupyterLab: each student opens their own sandbox from the launcher.

On JupyterHub every student has a JupyterLab server of their own, at ``/user/<name>/``.
jupyter-server-proxy (a Jupyter server extension) starts programs next to it and passes
requests on: it finds this file through the ``jupyter_serverproxy_servers`` entry point in
pyproject.toml, calls :func:`setup_sandbox` once when Jupyter starts, puts "Backend sandbox"
in the launcher, and on the first visit to ``<base_url>sandbox/`` runs
``python -m sandbox.jupyter`` on a free port and forwards every request there.

Three things change behind that proxy, and this file handles each:

1. **The prefix.** The sandbox lives at ``/user/ada/sandbox/``, not at ``/``. The proxy is
   told to pass the full path (``absolute_url``), and the sandbox mounts itself there: it
   moves the prefix from ``PATH_INFO`` to ``SCRIPT_NAME``, the WSGI way of saying "this app
   is mounted here", so every ``url_for`` link, redirect and cookie path carries it.
   (In its other mode the proxy strips the prefix and sends ``X-Forwarded-Prefix``, but since
   jupyter-server-proxy 4.5 it also prepends the prefix to every ``Location: /...``, so an
   app that honours the header gets ``/sandbox/sandbox/...`` redirects: jupyter-server-proxy
   issue #574.)
2. **Who is asking.** Jupyter has already checked who you are (its token, or the hub's login)
   and, on a laptop, the Host header. The sandbox's own port, though, is open to every
   program on the machine, other users' included on a shared server. So the proxy adds a
   header with a secret made at start, the sandbox was given the same secret in its
   environment, and a request without it is refused. Only a request carrying it skips the
   sandbox's own Host check (the Host is then Jupyter's public name, ``hub.example.edu``) and
   may say, in ``X-Forwarded-Proto``, that the browser used https.
3. **The origin is shared.** The sandbox's pages now share an origin with JupyterLab. The
   playground may set any cookie a learner asks for (``Set-Cookie=...; Path=/``): here a link
   could then overwrite or delete Jupyter's own login cookies. So cookies stay under the
   prefix, and ``Clear-Site-Data`` (which would wipe JupyterLab's storage) is dropped.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import click
from flask import Flask, Response, request

from .errors import problem
from .guard import FRONT_CHECKED
from .record import event

# The entry point's name: the launcher opens <base_url>sandbox/ (pyproject.toml names it too).
NAME = "sandbox"
# The secret travels in this header (a name the records redact anyway: it says "secret").
SECRET_HEADER = "X-Sandbox-Proxy-Secret"
SECRET_ENV = "SANDBOX_PROXY_SECRET"
# A cold start (a fresh pod on JupyterHub, a slow disk) imports Flask, cryptography and a
# 30,000-word password list and makes the database; the proxy's default of 5 s is too short.
START_TIMEOUT = 60


def setup_sandbox() -> dict[str, Any]:
    """Describe the sandbox to jupyter-server-proxy (called once when Jupyter starts)."""
    secret = secrets.token_urlsafe(32)
    return {
        # {port} and {base_url} are filled in by the proxy: a free port, and "/" or "/user/ada/".
        "command": [
            sys.executable,
            "-m",
            "sandbox.jupyter",
            "--port",
            "{port}",
            "--prefix",
            "{base_url}" + NAME + "/",
        ],
        "environment": {SECRET_ENV: secret},
        "request_headers_override": {SECRET_HEADER: secret},
        "absolute_url": True,  # pass /user/ada/sandbox/... whole (see point 1 above)
        "timeout": START_TIMEOUT,
        "launcher_entry": {
            "title": "Backend sandbox",
            "icon_path": str(Path(__file__).parent / "static" / "jupyter-launcher.svg"),
        },
        # The live feed holds a connection open and sends a keep-alive line every 15 s:
        # without this, an open sandbox tab would count as activity and JupyterHub's idle
        # culler would never stop the student's server.
        "exclude_last_activity_patterns": [r".*/sandbox/traces/stream$"],
    }


NOT_THROUGH_JUPYTER = (
    "This sandbox was started by JupyterLab and answers only through it: open 'Backend "
    "sandbox' in the JupyterLab launcher, or <your JupyterLab URL>sandbox/. Its own port is "
    "open to every program on this machine; JupyterLab is what checks that you are you."
)


class JupyterMount:
    """WSGI middleware: serve the app under Jupyter's prefix, to requests from its proxy only."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], prefix: str, secret: str):
        # PATH_INFO arrives URL-decoded, as latin-1 text (PEP 3333); decode the prefix alike.
        self.root = unquote_to_bytes(prefix.rstrip("/")).decode("latin-1")
        self.secret = secret.encode()
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # Popped: past this point no record, page or echo ever shows the secret.
        sent = environ.pop("HTTP_" + SECRET_HEADER.upper().replace("-", "_"), "")
        # compare_digest: a wrong guess takes as long however many characters were right.
        if not hmac.compare_digest(sent.encode("latin-1"), self.secret):
            # Refused before the app runs, like a firewall: nothing of the sandbox answers,
            # and the learner's records hold only their own requests (not the proxy's
            # "are you up?" knock at start, which gets this answer too).
            answer = problem(403, NOT_THROUGH_JUPYTER, title="Not through JupyterLab")
            return answer(environ, start_response)
        path = environ.get("PATH_INFO", "")
        if path != self.root and not path.startswith(self.root + "/"):
            answer = problem(404, f"This sandbox lives under {self.root}/.", title="Not found")
            return answer(environ, start_response)
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.root
        environ["PATH_INFO"] = path[len(self.root) :]
        environ[FRONT_CHECKED] = "jupyter-server-proxy"
        # Behind TLS the browser used https, and its Origin says so. The first value is the
        # front door's ("https,http" when TLS ends before JupyterHub's own proxy).
        proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        return self.wsgi_app(environ, start_response)


# Path=/ or Path=/other in a Set-Cookie value (attributes are case-insensitive).
_COOKIE_PATH = re.compile(r"(;\s*path\s*=\s*)([^;]*)", re.I)


def keep_cookies_under_prefix(response: Response) -> Response:
    """Keep every cookie under the sandbox's prefix, and drop Clear-Site-Data."""
    root = request.script_root
    cookies = response.headers.getlist("Set-Cookie")
    if cookies:
        response.headers.setlist("Set-Cookie", [_under(value, root) for value in cookies])
    if "Clear-Site-Data" in response.headers:
        del response.headers["Clear-Site-Data"]
        event(
            "sandbox",
            "dropped Clear-Site-Data: behind JupyterLab this origin is JupyterLab's too, and "
            "a link could wipe its storage or log you out of it",
            decision="shared origin",
        )
    return response


def _under(set_cookie: str, root: str) -> str:
    """Move a cookie whose Path leaves the sandbox's prefix under it (Path=/ -> /user/ada/...)."""

    def move(match: re.Match[str]) -> str:
        path = match.group(2).strip()
        if path == root or path.startswith(root + "/"):
            return match.group(0)
        moved = root + "/" + path.lstrip("/")
        event(
            "sandbox",
            f"cookie Path {path!r} became {moved!r}: behind JupyterLab the sandbox shares its "
            "origin, and a cookie outside the sandbox's prefix could overwrite JupyterLab's own",
            decision="shared origin",
        )
        return match.group(1) + moved

    # Without a Path the browser uses the page's own folder: already under the prefix.
    return _COOKIE_PATH.sub(move, set_cookie)


def mount(app: Flask, prefix: str, secret: str) -> Flask:
    """Serve the app under Jupyter's prefix, only to requests from Jupyter's proxy."""
    app.wsgi_app = JupyterMount(app.wsgi_app, prefix, secret)  # type: ignore[method-assign]
    # Flask's session cookie (and flask-login's) belongs to "/" unless told: that would be
    # every app on the hub's domain. Keep them under the sandbox's own prefix.
    root = prefix.rstrip("/") or "/"
    app.config.update(SESSION_COOKIE_PATH=root, REMEMBER_COOKIE_PATH=root)
    app.after_request(keep_cookies_under_prefix)  # before the record notes the headers
    return app


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), required=True)
@click.option("--prefix", default="/" + NAME + "/", show_default=True, help="Jupyter's URL path.")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=lambda: os.environ.get("SANDBOX_DATA_DIR") or Path.home() / ".sandbox",
    show_default="$SANDBOX_DATA_DIR, else ~/.sandbox",
    help="Folder for the database, secret key and other state; one per user.",
)
def main(port: int, prefix: str, data_dir: Path) -> None:
    """Serve the sandbox behind JupyterLab's proxy (jupyter-server-proxy starts this)."""
    from . import create_app
    from .cli import serve

    secret = os.environ.get(SECRET_ENV)
    if not secret:
        raise click.ClickException(
            f"{SECRET_ENV} is not set: JupyterLab starts this command itself (open 'Backend "
            "sandbox' in its launcher). To run the sandbox on its own, use `python app.py`."
        )
    # Loopback only: the proxy runs on this machine, and nothing else should reach the port.
    app = mount(create_app({"SANDBOX_DATA_DIR": str(data_dir)}), prefix, secret)
    click.echo(f"Behind JupyterLab: open {prefix} there (this port answers only its proxy).")
    serve(app, "127.0.0.1", port, keep_proxy_headers=True)


if __name__ == "__main__":
    main()
