"""Registry: the list of modules, which ones are on, and the hooks of those that are.

The only place that knows every module. Built-in modules are loaded from one
tuple of dotted paths, the way datasette loads its default plugins: adding a
concept is adding a folder under ``sandbox/modules/`` and a line here.

A module's routes stay registered whether it is on or off; the gate below
answers a 404 problem for a module that is off, and its hooks are simply not
called, so an off module costs nothing.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from flask import Blueprint, Flask, Response, current_app, request

from . import db, services
from .errors import ModuleOff, NotFound
from .record import Record, current_record

BUILTIN_MODULES = (
    "sandbox.modules.server",
    "sandbox.modules.database",
    "sandbox.modules.api",
    "sandbox.modules.auth",
    "sandbox.modules.encryption",
    "sandbox.modules.caching",
    "sandbox.modules.indexing",
    "sandbox.modules.jobs",
    "sandbox.modules.ratelimit",
    "sandbox.modules.validation",
    "sandbox.modules.logging",
    "sandbox.modules.testing",
)

# How long a process trusts its cached toggles before reading them again. A toggle
# made through this process is seen at once; one made by another process (the
# command line, a second worker) within this many seconds.
STATE_TTL = 0.5


@dataclass(frozen=True)
class Challenge:
    """A goal a learner reaches by doing something, checked from request records.

    ``check(record, buffer)`` is called with each finished record (and the buffer
    of recent ones, for goals that span several requests) until it returns True.
    """

    id: str
    title: str
    hint: str
    check: Callable[[Record, Any], bool]


class State(dict):
    """``{module name: on}`` as read at one moment, and (once asked) the modules that are on."""

    on: list[Module] | None = None


@dataclass
class Module:
    """One concept of the course: its routes, its hooks into the core, its challenges.

    ``before_request(record)`` may answer the request itself by returning a
    response; ``after_request(record, response)`` may change the response.
    ``provides`` plugs a service into the core, e.g. ``{"note_storage": ...}``.
    All of them count only while the module is on.

    A module owns its state: the tables in its folder's ``schema.sql`` (created at
    start, like the core's) and ``reset(conn, workspace)``, which empties them for one
    workspace inside the reset's transaction. It brings its own command-line
    ``commands`` (``python app.py users ...``) and ``nav_links`` (label, endpoint) for
    the pages' top bar. The core names none of them.

    ``wraps`` puts something in front of a service another module (or the core) provides:
    ``{"note_storage": lambda inner: Cached(inner)}`` gets the provider that would answer
    and returns one with the same methods; wrappers apply in registry order. ``listens``
    hears what the core announces (``{"note_changed": forget}``, see sandbox/services.py).
    Services and events are checked by name and shape when the module registers.

    ``start(app)`` and ``stop(app)`` are the module's lifecycle: ``start`` runs when the
    module is on (at start, or when it is switched on) and ``stop`` when it is switched
    off and when the app shuts down, so whatever it runs in the background (a job
    consumer's threads) never outlives it. ``openapi()`` returns the OpenAPI paths of its
    routes, ``settings`` its settings and their defaults (a setting the user gave wins).

    ``on_toggle(conn, workspace, enabled)`` changes data when the module is switched
    (encryption encrypts every note): it runs inside the same transaction as the switch
    itself, so a crash leaves both as they were. ``after_toggle(database_path, enabled)``
    runs once that transaction is committed (to tidy up what a transaction cannot).

    ``snapshot_files(workspace)`` lists the files (relative to the data dir) the module keeps
    beside the database for a workspace (the encryption keys): a snapshot saves them with the
    workspace's rows, and a restore puts them back (sandbox/snapshots.py). ``restored(conn,
    workspace)`` runs inside a restore's transaction once the rows are back, to make what lies
    outside the rows agree with them (the indexing module's indexes, the jobs module's queue);
    what it returns, if anything, is a sentence the restore's answer shows.

    An instructor's hand-out (sandbox/class_handouts.py) is a snapshot of one workspace
    restored into others. ``not_handed_out`` names the module's tables whose rows must not
    travel that way (live logins and tokens, a workspace's own history): they start empty.
    ``handed_out(conn, workspace, files)`` runs inside such a restore, with the files the
    hand-out saved for the module, to make the rows this workspace's own (the encryption
    module re-encrypts the notes under this workspace's key; the hand-out's key stays out).

    ``handle`` adds calls to the notebook handle: ``{"logs": fn}`` makes ``sb.logs(...)``
    call ``fn(sb, ...)`` (sandbox/handle.py), so a module brings its own notebook helpers.
    """

    package: str
    doc: str
    blueprint: Blueprint
    challenges: tuple[Challenge, ...] = ()
    enabled_by_default: bool = True
    before_request: Callable[[Record | None], Response | None] | None = None
    after_request: Callable[[Record | None, Response], Response | None] | None = None
    provides: dict[str, Any] = field(default_factory=dict)
    wraps: dict[str, Callable[[Any], Any]] = field(default_factory=dict)
    listens: dict[str, Callable[..., None]] = field(default_factory=dict)
    start: Callable[[Flask], None] | None = None
    stop: Callable[[Flask], None] | None = None
    openapi: Callable[[], dict[str, Any]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    more_blueprints: tuple[Blueprint, ...] = ()  # routes outside the module's own URL prefix
    # Routes that answer whether the module is on or off: the same request, timed both
    # ways, is the lesson (the caching module's report: off, it is computed every time).
    works_when_off: tuple[Blueprint, ...] = ()
    init_app: Callable[[Flask], None] | None = None  # bind extensions (flask-login) at start
    on_toggle: Callable[[Any, str, bool], None] | None = None
    after_toggle: Callable[[Any, bool], None] | None = None
    # Answer state-changing requests from any website (the HTTP playground, as httpbin does).
    # Every other module's routes refuse them: see sandbox/guard.py.
    open_to_other_sites: bool = False
    reset: Callable[[Any, str], None] | None = None
    commands: tuple[click.Command, ...] = ()
    nav_links: tuple[tuple[str, str], ...] = ()
    handle: dict[str, Callable[..., Any]] = field(default_factory=dict)
    snapshot_files: Callable[[str], list[str]] | None = None
    restored: Callable[[Any, str], str | None] | None = None
    not_handed_out: tuple[str, ...] = ()
    handed_out: Callable[[Any, str, dict[str, bytes]], None] | None = None
    name: str = field(init=False)
    title: str = field(init=False)
    summary: str = field(init=False)

    def __post_init__(self) -> None:
        # One name everywhere: the folder is the name, the blueprint and URL prefix follow it.
        self.name = self.package.rsplit(".", 1)[-1]
        if self.blueprint.name != self.name:
            raise ValueError(f"blueprint of module {self.name!r} must be named {self.name!r}")
        services.check(self.name, self.provides, self.wraps, self.listens)
        for call, fn in self.handle.items():
            if not call.isidentifier() or call.startswith("_") or not callable(fn):
                raise ValueError(
                    f"Module {self.name!r}: handle={{{call!r}: ...}} must map a public name "
                    "(letters, digits, _) to a function fn(sb, ...) that becomes sb.<name>(...)."
                )
        first, _, rest = self.doc.strip().partition("\n")
        self.title = first.strip().rstrip(".")
        self.summary = " ".join(rest.split("\n\n")[0].split()) if rest.strip() else ""

    @property
    def folder(self) -> Path:
        """Return the folder this module's code lives in."""
        return Path(importlib.import_module(self.package).__file__).parent

    def schema_sql(self) -> str | None:
        """Return the SQL of the module's own tables (its ``schema.sql``), if it has any."""
        path = self.folder / "schema.sql"
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def source_files(self) -> list[dict[str, str]]:
        """Return the module's Python files as they are in the running package."""
        folder = self.folder
        return [
            {
                "path": str(p.relative_to(folder.parent.parent.parent)).replace("\\", "/"),
                "text": p.read_text(encoding="utf-8"),
            }
            for p in sorted(folder.rglob("*.py"))
        ]


class Registry:
    """The modules of one app and their live on/off state."""

    def __init__(self, modules: list[Module]):
        self.modules = {m.name: m for m in modules}
        # Which module owns each blueprint: the gate looks up the blueprint of the matched route.
        self.owners = {
            bp.name: m
            for m in modules
            for bp in (m.blueprint, *m.more_blueprints, *m.works_when_off)
        }
        self.ungated = {bp.name for m in modules for bp in m.works_when_off}
        # {workspace: (state, when it was read)}: every workspace switches its own modules.
        self._states: dict[str, tuple[dict[str, bool], float]] = {}
        self._generation = 0  # how many times the cache was dropped
        self._lock = threading.Lock()
        self.app: Flask | None = None  # set by init_app: the app the lifecycle hooks are given
        self.running: set[str] = set()  # modules whose start() ran and stop() has not
        self._lifecycle = threading.Lock()

    def get(self, name: str) -> Module:
        """Return a module by name, or raise a 404 problem naming the known ones."""
        try:
            return self.modules[name]
        except KeyError:
            known = ", ".join(self.modules)
            raise NotFound(f"There is no module named '{name}'. Known modules: {known}.") from None

    def state(self) -> dict[str, bool]:
        """Return ``{name: enabled}``, read from the database at most every STATE_TTL s."""
        # Every thread of the server runs this at once, and a toggle may drop the cache
        # (forget_state) at any moment. So this works on local names only: checking
        # the cache and then returning it could return None if a toggle lands in
        # between, and every caller would fail with a 500.
        workspace = db.workspace()
        # One lookup in the dict the toggles replace whole (forget_state): no lock needed to
        # read it, and a request asks this several times.
        state, read_at = self._states.get(workspace, (None, 0.0))
        now = time.monotonic()
        if state is not None and now - read_at <= STATE_TTL:
            return state
        with self._lock:
            generation = self._generation
        conn = db.connect(db.database_path(), traced=False)  # not part of the learner's request
        try:
            state = self.stored_state(conn)
        finally:
            conn.close()
        with self._lock:
            # Keep it, unless a toggle dropped the cache while we read: then what we read may
            # be from before that toggle, and the next request must read again.
            if self._generation == generation:
                self._states[workspace] = (state, now)
        return state

    def stored_state(self, conn: Any) -> dict[str, bool]:
        """Return ``{name: enabled}`` as stored, read on ``conn``, without the cache.

        Read inside a transaction that holds the write lock (BEGIN IMMEDIATE), this is the
        state for as long as the transaction lasts: a switch needs the same lock to change it.
        That is how a note write knows, for certain, whether encryption is on.
        """
        rows = conn.execute(
            "select name, enabled from module_state where workspace = ?", (db.workspace(),)
        ).fetchall()
        saved = {name: bool(enabled) for name, enabled in rows}
        return State(
            (name, saved.get(name, m.enabled_by_default)) for name, m in self.modules.items()
        )

    def is_enabled(self, name: str) -> bool:
        """Return whether a module is on."""
        return self.state()[name]

    def enabled(self) -> list[Module]:
        """Return the modules that are on, in registry order."""
        state = self.state()
        if state.on is None:  # listed once per state read, not on each of a request's calls
            state.on = [m for name, m in self.modules.items() if state[name]]
        return state.on

    def provided(self, service: str, *, wrapped: bool = True) -> Any:
        """Return the first on module's provider of a core service, wrapped; or None."""
        for module in self.enabled():
            if service in module.provides:
                provider = module.provides[service]
                return self.wrapped(service, provider) if wrapped else provider
        return None

    def wrapped(self, service: str, provider: Any) -> Any:
        """Return ``provider`` behind the wrappers of the on modules that wrap ``service``."""
        for module in self.enabled():
            if service in module.wraps:
                provider = module.wraps[service](provider)
        return provider

    def announce(self, event: str, **data: Any) -> None:
        """Tell the on modules that listen for ``event`` (see services.EVENTS) what happened."""
        for module in self.enabled():
            if event in module.listens:
                module.listens[event](**data)

    def provided_all(self, service: str) -> list[Any]:
        """Return every on module's provider of a core service, in registry order."""
        return [m.provides[service] for m in self.enabled() if service in m.provides]

    def any_provider(self, service: str) -> Any:
        """Return a loaded module's provider of a service, whether it is on or off, or None."""
        return next(
            (m.provides[service] for m in self.modules.values() if service in m.provides), None
        )

    def provider_name(self, service: str) -> str | None:
        """Return the name of the module that can provide a service, on or off."""
        return next((m.name for m in self.modules.values() if service in m.provides), None)

    def set_enabled(self, name: str, enabled: bool) -> Module:
        """Switch a module on or off, persistently, on this request's connection."""
        module = self.get(name)
        conn = db.get_db().conn
        with conn:  # one transaction: the switch and the data it changes, or neither
            # Write lock first, then the stored state, not this process's cached copy: another
            # process (the command line) may have switched it a moment ago, and a module that
            # changes data (encryption) must never apply the same change twice.
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "select enabled from module_state where workspace = ? and name = ?",
                [db.workspace(), name],
            ).fetchone()
            changes = (bool(row[0]) if row else module.enabled_by_default) != enabled
            if changes and module.on_toggle is not None:
                module.on_toggle(conn, db.workspace(), enabled)
            conn.execute(
                "insert into module_state (workspace, name, enabled, updated_at) "
                "values (?, ?, ?, ?) on conflict (workspace, name) do update set "
                "enabled = excluded.enabled, updated_at = excluded.updated_at",
                [db.workspace(), name, int(enabled), db.now()],
            )
        self.forget_state()
        if changes and module.after_toggle is not None:
            module.after_toggle(db.database_path(), enabled)
        self.sync_lifecycle()
        return module

    # --- the lifecycle: what a module runs in the background runs only while it is on ---

    def wanted(self) -> set[str]:
        """Return the modules that should be running: on here, or (in a class) anywhere."""
        conn = db.connect(db.database_path(self.app), traced=False)
        try:
            rows = conn.execute("select workspace, name, enabled from module_state").fetchall()
        finally:
            conn.close()
        local = self.app.config["SANDBOX_WORKSPACE"]
        if not self.app.config.get("SANDBOX_CLASS_MODE"):
            saved = {name: bool(on) for workspace, name, on in rows if workspace == local}
            return {n for n, m in self.modules.items() if saved.get(n, m.enabled_by_default)}
        # A class: a new workspace starts with the defaults, so a module on by default runs.
        on_somewhere = {name for _, name, on in rows if on}
        return {n for n, m in self.modules.items() if m.enabled_by_default or n in on_somewhere}

    def sync_lifecycle(self) -> None:
        """Start the modules that should run and are not running; stop the others."""
        if self.app is None:
            return
        with self._lifecycle:  # two switches at once must not start a module twice
            wanted = self.wanted()
            for name, module in self.modules.items():
                if name in wanted and name not in self.running:
                    if module.start is not None:
                        module.start(self.app)
                    self.running.add(name)
                elif name not in wanted and name in self.running:
                    self.running.discard(name)
                    if module.stop is not None:
                        module.stop(self.app)

    def shutdown(self) -> None:
        """Stop every running module, last started first (the app is going away)."""
        with self._lifecycle:
            for name in reversed(list(self.modules)):
                if name in self.running:
                    self.running.discard(name)
                    if self.modules[name].stop is not None:
                        self.modules[name].stop(self.app)

    def reset(self, conn: Any, workspace: str) -> None:
        """Put a workspace back to the start: every module's tables, then the core's, at once."""
        with conn:  # one transaction: a reset happens entirely or not at all
            # Modules first, in reverse: a later module's rows may point at an earlier one's.
            for module in reversed(self.modules.values()):
                if module.reset is not None:
                    module.reset(conn, workspace)
            db.reset(conn, workspace)
        self.forget_workspace(workspace)

    def forget_workspace(self, workspace: str) -> None:
        """Drop what is kept in memory of a workspace whose rows were all replaced at once.

        After a reset or a snapshot's restore: the switches are read again (and what runs
        in the background follows them), and every module hears ``workspace_reset``.
        """
        self.forget_state()
        self.sync_lifecycle()  # the switches may all have changed
        for module in self.modules.values():  # on or off: what it kept is stale either way
            if "workspace_reset" in module.listens:
                module.listens["workspace_reset"](workspace=workspace)

    def schema_sql(self) -> str:
        """Return the SQL of every table: the core's, then each module's."""
        parts = [db.schema_sql()]
        parts += [sql for m in self.modules.values() if (sql := m.schema_sql())]
        return "\n".join(parts)

    def forget_state(self) -> None:
        """Drop the cached toggles so the next request reads them again."""
        with self._lock:
            # Every workspace's: simpler than tracking whose, and the next read is one query.
            self._states = {}
            self._generation += 1

    def describe(self, module: Module) -> dict[str, Any]:
        """Return a module as the toggle API shows it."""
        return {
            "name": module.name,
            "title": module.title,
            "summary": module.summary,
            "enabled": self.is_enabled(module.name),
            "enabled_by_default": module.enabled_by_default,
            "url_prefix": module.blueprint.url_prefix,
            "challenges": [c.id for c in module.challenges],
        }

    # --- the gate and the hooks, run around every request ---

    def owner(self) -> Module | None:
        """Return the module that owns the route of the current request, if any."""
        return self.owners.get((request.blueprint or "").split(".")[0])

    def gate(self) -> Response | None:
        """Refuse a route of a module that is off; run the before hooks of those that are on."""
        owner = self.owner()
        record = current_record()
        if record is None:  # records off: the same work, untimed
            return self._gate(owner, None)
        # Timed for the record's waterfall: the gate, and inside it each module's hook.
        span = record.start_span("gate")
        try:
            return self._gate(owner, record)
        finally:
            record.end_span(span)

    def _gate(self, owner: Module | None, record: Record | None) -> Response | None:
        if owner is not None:
            if record is not None:
                record.module = owner.name
            if not self.is_enabled(owner.name) and request.blueprint not in self.ungated:
                raise ModuleOff(owner.name)
        for module in self.enabled():
            if module.before_request is not None:
                span = record.start_span(f"{module.name}: before") if record else None
                response = module.before_request(record)
                if span is not None:
                    record.end_span(span)
                if response is not None:
                    return response
        return None

    def after(self, response: Response) -> Response:
        """Run the after hooks of the modules that are on."""
        record = current_record()
        for module in self.enabled():
            if module.after_request is not None:
                span = record.start_span(f"{module.name}: after") if record else None
                response = module.after_request(record, response) or response
                if span is not None:
                    record.end_span(span)
        return response


def registry() -> Registry:
    """Return this app's registry."""
    return current_app.extensions["sandbox.registry"]


def shutdown(app: Flask) -> None:
    """Stop what the app's modules run in the background: call it when the app goes away."""
    app.extensions["sandbox.registry"].shutdown()


def load_modules(paths: tuple[str, ...] | None = None) -> list[Module]:
    """Import each module package (the built-ins by default) and return its ``module``."""
    return [importlib.import_module(path).module for path in paths or BUILTIN_MODULES]


def init_app(app: Flask) -> None:
    """Register every module's blueprint, the gate and the hooks."""
    modules = load_modules(app.config.get("SANDBOX_MODULES"))
    app.extensions["sandbox.registry"] = reg = Registry(modules)
    reg.app = app
    # Every module's settings and tables first: a module's init_app may look at all of them
    # (the indexing module reconciles every index the schema files create).
    for module in modules:
        for name, default in module.settings.items():
            app.config.setdefault(name, default)  # the user's setting wins over the module's
        if (sql := module.schema_sql()) is not None:
            db.create_tables(app, sql)
    for module in modules:
        for blueprint in (module.blueprint, *module.more_blueprints, *module.works_when_off):
            app.register_blueprint(blueprint)
        for command in module.commands:
            app.cli.add_command(command)
        if module.init_app is not None:
            module.init_app(app)

    @app.context_processor
    def navigation() -> dict[str, Any]:
        # The top bar's links: each loaded module brings its own, so any subset renders.
        return {"nav_links": [link for m in modules for link in m.nav_links]}

    app.before_request(lambda: reg.gate())
    app.after_request(lambda response: reg.after(response))
    reg.sync_lifecycle()  # start what the modules that are on run in the background
