"""The backend sandbox: a Flask app whose every concept can be switched on and off.

``create_app()`` builds the app; ``Sandbox`` drives one from a notebook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .flask_app import App

__version__ = "0.1.0"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the sandbox: settings, database, records, modules, inspector and pages."""
    from . import (
        capacity,
        classroom,
        db,
        errors,
        guard,
        inspector,
        notes,
        notes_pages,
        pages,
        progress,
        record,
        registry,
        secret,
        settings,
        workspaces,
    )
    from .cli import modules_cli

    config = settings.defaults()
    # The session cookie: out of reach of page scripts (HttpOnly) and not sent along with
    # requests other sites start (SameSite=Lax); Secure is added when serving HTTPS.
    config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    config["SANDBOX_DATA_DIR"] = os.environ.get("SANDBOX_DATA_DIR", config["SANDBOX_DATA_DIR"])
    config.update(test_config or {})
    data_dir = Path(config["SANDBOX_DATA_DIR"]).resolve()
    # 0700: the database, keys and certificates inside are the owner's alone (a no-op on Windows,
    # where a user's own folders are already private).
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    # Settings in order: defaults, then the instance file, then what the caller passed.
    app = App(__name__, instance_path=str(data_dir), instance_relative_config=True)
    app.config.from_mapping(config)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_mapping(test_config or {})
    app.config["SANDBOX_DATA_DIR"] = str(data_dir)
    app.secret_key = secret.load_or_create(data_dir / "secret_key")
    app.json.sort_keys = False  # keep fields in the order a learner reads them

    # /w/<id>/... in class mode
    app.wsgi_app = workspaces.WorkspaceDispatcher(app.wsgi_app, app.config)
    app.session_interface = workspaces.WorkspaceSessions()
    errors.init_app(app)
    record.init_app(app)  # first: every later hook, the gate included, runs inside a record
    guard.init_app(app)  # then who may ask at all: host, origin, operator token
    capacity.init_app(app)  # slow answers never take the last threads
    db.init_app(app)
    registry.init_app(app)
    progress.init_app(app)
    notes.init_app(app)
    classroom.init_app(app)
    app.register_blueprint(inspector.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(notes_pages.bp)
    app.cli.add_command(modules_cli)
    app.extensions["sandbox.setting_warnings"] = settings.misspelled(
        config_file_names(app), known_settings(app)
    )
    return app


def config_file_names(app: Flask) -> list[str]:
    """Return the setting names the data dir's config.py sets, in its order."""
    from flask import Config

    given = Config(app.instance_path)
    given.from_pyfile("config.py", silent=True)
    return list(given)


def known_settings(app: Flask) -> set[str]:
    """Return every setting's name: the sandbox's, each module's and Flask's own."""
    from . import settings

    modules = app.extensions["sandbox.registry"].modules.values()
    return {*settings.defaults(), *app.default_config, *(n for m in modules for n in m.settings)}


def __getattr__(name: str) -> Any:
    # `from sandbox import Sandbox` without importing requests for every use of the app.
    if name in ("Sandbox", "SandboxProblem"):
        from . import handle

        return getattr(handle, name)
    raise AttributeError(name)
