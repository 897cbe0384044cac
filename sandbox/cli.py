"""Command line: start the sandbox, list modules, switch them on and off.

``python app.py`` serves; ``python app.py modules``, ``python app.py enable NAME``
and ``python app.py disable NAME`` change toggles (a running server sees them
within half a second). The same toggles work through Flask's own command line:
``flask --app app modules list|enable NAME|disable NAME``.
"""

from __future__ import annotations

import importlib
import select
import sys
import threading
from pathlib import Path
from typing import Any

import click
from flask import Config, Flask
from flask.cli import AppGroup

from . import class_instructors, class_summary, create_app, db
from .class_preset import PresetError
from .registry import load_modules, registry, shutdown
from .workers import Supervisor, default_count, waitress_server


def print_modules(app: Flask) -> None:
    """Print each module's state, one line each."""
    with app.app_context():
        reg = registry()
        for module in reg.modules.values():
            state = "on " if reg.is_enabled(module.name) else "off"
            click.echo(f"  [{state}] {module.name:<12} {module.title}")


def switch(app: Flask, name: str, enabled: bool) -> None:
    """Switch a module and say so, or exit with the reason."""
    from .errors import SandboxError

    with app.app_context():
        try:
            registry().set_enabled(name, enabled)
        except SandboxError as error:
            raise click.ClickException(error.detail) from None
    click.echo(f"Module '{name}' is now {'on' if enabled else 'off'}.")


# --- flask --app app modules ... ---
modules_cli = AppGroup("modules", help="List modules and switch them on and off.")


@modules_cli.command("list")
def _list() -> None:
    from flask import current_app

    print_modules(current_app)


@modules_cli.command("enable")
@click.argument("name")
def _enable(name: str) -> None:
    from flask import current_app

    switch(current_app, name, True)


@modules_cli.command("disable")
@click.argument("name")
def _disable(name: str) -> None:
    from flask import current_app

    switch(current_app, name, False)


# --- python app.py ... ---
@click.group(invoke_without_command=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. 127.0.0.1 keeps the sandbox private to this computer; "
    "0.0.0.0 opens it to your network.",
)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--data-dir",
    default="instance",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the database, secret key and other state.",
)
@click.option("--reset", is_flag=True, help="Wipe the data dir's database and start from the seed.")
@click.option(
    "--https",
    is_flag=True,
    help="Serve over TLS, with a self-signed certificate made in the data dir.",
)
@click.option(
    "--threads",
    type=click.IntRange(2, 1000),
    help="Requests served at once (default 64: slow answers and live feeds hold a thread each).",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the logging module's JSON log lines to this file (rotated by size).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    help="Processes serving requests, to use every core (default: 1 for one learner; in "
    "class mode one per core, up to 4).",
)
@click.option(
    "--connection-limit",
    type=click.IntRange(1, 100_000),
    help="Open connections accepted at once, idle ones included (default 500).",
)
@click.option(
    "--class-mode",
    is_flag=True,
    envvar="SANDBOX_CLASS_MODE",
    help="Serve a class: every student joins into a workspace of their own (try with "
    "--host 0.0.0.0 so the room can reach it).",
)
@click.option(
    "--class-config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="SANDBOX_CLASS_CONFIG",
    help="A class preset (TOML; see class.example.toml): the room's name, the modules it "
    "starts with and locks, the challenges in scope, the join code's expiry. Implies "
    "--class-mode.",
)
@click.pass_context
def main(
    ctx: click.Context,
    host: str,
    port: int,
    data_dir: Path,
    reset: bool,
    https: bool,
    threads: int | None,
    log_file: Path | None,
    workers: int | None,
    connection_limit: int | None,
    class_mode: bool,
    class_config: Path | None,
) -> None:
    """Start the backend sandbox, or manage its modules."""
    if reset:
        wiped = db.wipe_dir(data_dir)
        if wiped:
            click.echo(
                f"Reset: deleted {', '.join(f.name for f in wiped)} in {data_dir.resolve()}: "
                "notes, accounts, switches and progress start again from the seed "
                "(the secret key is kept)."
            )
        else:
            click.echo(f"Reset: no database in {data_dir.resolve()} yet, nothing to wipe.")
    config = {"SANDBOX_DATA_DIR": str(data_dir), "SANDBOX_HOST": host}
    # Only what was given on the command line: otherwise the data dir's config.py decides.
    if threads is not None:
        config["SANDBOX_THREADS"] = threads
    if connection_limit is not None:
        config["SANDBOX_CONNECTION_LIMIT"] = connection_limit
    if log_file is not None:
        config["SANDBOX_LOG_FILE"] = str(log_file.resolve())
    if class_config is not None:
        config["SANDBOX_CLASS_CONFIG"] = str(class_config)
    if class_mode or class_config is not None or ctx.invoked_subcommand == "class":
        config["SANDBOX_CLASS_MODE"] = True
    if ctx.invoked_subcommand is None:  # serving: how many processes
        if workers is None:  # the data dir's config.py, else what suits the machine
            chosen = Config(data_dir)
            chosen.from_pyfile("config.py", silent=True)
            workers = chosen.get("SANDBOX_WORKERS") or (
                1 if https else default_count(config.get("SANDBOX_CLASS_MODE", False))
            )
        if workers > 1 and https:
            raise click.UsageError(
                "--https serves from one process: leave out --workers (and SANDBOX_WORKERS)."
            )
        config["SANDBOX_WORKERS"] = workers
    try:
        ctx.obj = create_app(config)
    except PresetError as error:
        raise click.ClickException(str(error)) from None
    for warning in ctx.obj.extensions["sandbox.setting_warnings"]:
        click.echo(f"Warning: {warning}", err=True)
    if ctx.invoked_subcommand is None:
        serve(ctx.obj, host, port, https=https, overrides=config)
    else:  # commands that use Flask's current_app (`users add`) find this app, as under `flask`
        ctx.with_resource(ctx.obj.app_context())


@main.command()
@click.pass_obj
def modules(app: Flask) -> None:
    """List the modules and whether each is on."""
    print_modules(app)


@main.command()
@click.argument("name")
@click.pass_obj
def enable(app: Flask, name: str) -> None:
    """Switch a module on."""
    switch(app, name, True)


@main.command()
@click.argument("name")
@click.pass_obj
def disable(app: Flask, name: str) -> None:
    """Switch a module off."""
    switch(app, name, False)


# --- python app.py class ... ---
@main.group("class")
def class_() -> None:
    """Manage a class (class mode)."""


@class_.command("info")
@click.pass_obj
def class_info(app: Flask) -> None:
    """Print the join code, the URLs and how many students joined."""
    with app.app_context():
        conn = db.connect(db.database_path(app), traced=False)
        try:
            joined = conn.execute("select count(*) from class_workspaces").fetchone()[0]
        finally:
            conn.close()
        click.echo(class_summary.describe(app, class_summary.remembered_urls(app)))
        click.echo(f"Instructors: {', '.join(class_instructors.names(app))}")
    click.echo(f"Students joined: {joined}.")


@class_.command("instructor")
@click.argument("name")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input instead of asking "
    "(for scripts: a password in a command's arguments shows in the shell's history).",
)
@click.pass_obj
def class_instructor(app: Flask, name: str, password_stdin: bool) -> None:
    """Add an instructor, or give one a new password; asks for it twice."""
    from .errors import ValidationFailed

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        made = class_instructors.save(name, password, app)
    except ValidationFailed as failed:
        problems = "; ".join(f"{e['field']}: {e['message']}" for e in failed.extra["errors"])
        raise click.ClickException(problems) from None
    name = name.strip().lower()
    if made:
        click.echo(f"Instructor '{name}' made. Log in at /class/login.")
    else:
        click.echo(f"Instructor '{name}' has a new password; their old logins stopped working.")


# Each module's own commands (the auth module's `users add NAME --role instructor`, say).
for _module in load_modules():
    for _command in _module.commands:
        main.add_command(_command)


# Windows's select() watches at most 512 sockets (Python is built with that FD_SETSIZE).
WINDOWS_SOCKETS = 500


def open_files_for(connections: int) -> int:
    """Return how many connections the OS lets this process hold, raising its limit if allowed.

    Each connection is an open file. macOS allows a process 256 open files unless it asks
    for more (Linux often 1,024): ask for enough, up to the hard limit the OS sets.
    """
    if not hasattr(select, "poll"):  # Windows
        return min(connections, WINDOWS_SOCKETS)
    try:
        import resource  # Unix only
    except ImportError:
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256  # the database, the log, the listening socket, ...
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
            soft = new_soft
        except (ValueError, OSError):
            pass
    return connections if soft == resource.RLIM_INFINITY else min(connections, soft - 256)


def waitress_options(app: Flask, keep_proxy_headers: bool = False) -> dict[str, Any]:
    """Return how waitress serves the app (one process or each worker)."""
    return {
        # Threads, not processes: the same on every OS. A live feed or a slow answer
        # holds a thread, so there are many more than waitress's default four.
        "threads": app.config["SANDBOX_THREADS"],
        "connection_limit": open_files_for(app.config["SANDBOX_CONNECTION_LIMIT"]),
        # poll() watches any number of connections; select() (waitress's default)
        # only the first 1,024 file numbers. Windows has select() only.
        "asyncore_use_poll": hasattr(select, "poll"),
        # Keep reading a connection while its request runs, so a client that hangs up is
        # noticed at once (see sandbox/capacity.py).
        "channel_request_lookahead": 1,
        "backlog": 2048,  # a room that arrives at once waits in line, not refused
        "ident": "sandbox",
        # waitress drops X-Forwarded-* (any client can write them). Behind JupyterLab,
        # sandbox/jupyter.py reads them itself, from its proxy's requests only.
        "clear_untrusted_proxy_headers": not keep_proxy_headers,
    }


def serve(
    app: Flask,
    host: str,
    port: int,
    *,
    https: bool = False,
    keep_proxy_headers: bool = False,
    overrides: dict[str, Any] | None = None,
) -> None:
    """Serve the app with waitress, a production server that also runs on Windows.

    With ``https``, serve it with werkzeug's threaded server instead: waitress has no TLS.
    With ``SANDBOX_WORKERS`` above one, several processes serve it (sandbox/workers.py);
    each builds the app from ``overrides``, the settings this one was given.
    """
    from .guard import TOKEN_QUERY, is_loopback, new_operator_token

    class_mode = app.config["SANDBOX_CLASS_MODE"]
    if not class_mode and not is_loopback(host) and not app.config["SANDBOX_OPERATOR_TOKEN"]:
        # Reachable from the network: the control plane asks for a token, like Jupyter's.
        app.config["SANDBOX_OPERATOR_TOKEN"] = new_operator_token()
    token = app.config["SANDBOX_OPERATOR_TOKEN"]
    workers = app.config["SANDBOX_WORKERS"]
    try:
        if https:
            # A module makes the certificate (the encryption module: in transit is its
            # subject); TLS works whether that module is switched on or off.
            https_server = app.extensions["sandbox.registry"].any_provider("https_server")
            if https_server is None:
                raise click.ClickException("--https needs a module that provides HTTPS.")
            server = https_server(app, host, port)
            app.config.update(SANDBOX_HTTPS=True, SESSION_COOKIE_SECURE=True)
        elif workers > 1:
            config = {
                **(overrides or {"SANDBOX_DATA_DIR": app.config["SANDBOX_DATA_DIR"]}),
                # Every worker asks for the same token (one made here, never one each).
                "SANDBOX_OPERATOR_TOKEN": token,
                "SANDBOX_WORKERS": workers,
            }
            server = Supervisor(app, config, host, port, workers, waitress_options(app))
        else:
            server = waitress_server(
                app, host=host, port=port, **waitress_options(app, keep_proxy_headers)
            )
    except OSError as error:
        raise click.ClickException(
            f"Cannot listen on {host}:{port} ({error.strerror}). Is another sandbox running? "
            f"Try --port {port + 1}."
        ) from None
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "localhost") else host
    shown = f"[{shown}]" if ":" in shown else shown  # an IPv6 address in a URL: [::1]
    scheme, bound = ("https", server.server_port) if https else ("http", server.effective_port)
    url = f"{scheme}://{shown}:{bound}/"
    click.echo(f"Backend sandbox {sys.modules['sandbox'].__version__}, data in {app.instance_path}")
    print_modules(app)
    if class_mode:
        urls = class_summary.room_urls(host, bound, scheme)
        class_summary.remember_urls(app, urls)
        click.echo(class_summary.describe(app, urls))
        click.echo("`python app.py class info` prints the code and URLs again.")
    elif token:
        click.echo(
            f"Listening on {host}: anyone on your network can reach this sandbox. Switches, "
            "reset, records and the SQL console ask for the operator token in this URL:"
        )
        url += f"?{TOKEN_QUERY}={token}"
    if https:
        click.echo(f"TLS certificate (self-signed: tell your client to trust it): {server.cert}")
    if workers > 1:
        click.echo(f"{workers} workers (processes) answer on one port; records are shared.")
    click.echo(f"Serving on {url}  (Ctrl+C to stop)")
    # Listening already; import what the first database request needs while nobody waits.
    threading.Thread(target=importlib.import_module, args=("sqlite_utils",), daemon=True).start()
    try:
        if https:
            server.serve_forever()
        else:
            server.run()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        shutdown(app)  # what the modules run in the background stops with the server
