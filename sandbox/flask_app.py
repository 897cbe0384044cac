"""The sandbox's Flask: Flask itself, with three changes a profiler asked for.

``python tests/bench/bench_speed.py`` compares the sandbox with a bare Flask app; a profile
of one request (cProfile, then py-spy under load) showed where the difference went. Two
pieces of it were Flask's own and cost the same on every request, whatever it did:
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from flask import Flask, has_request_context, request

from .json_provider import FastJSONProvider


class App(Flask):
    """Flask, writing JSON through orjson and asking once whether a function is async."""

    # 1. JSON: every answer's JSON written by orjson where it writes what Python's json
    #    would (see json_provider.py): an indented answer ~20 times faster.
    json_provider_class = FastJSONProvider

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._known_sync: weakref.WeakSet[Callable[..., Any]] = weakref.WeakSet()
        self._urls: dict[tuple[Any, ...], str] = {}

    # 2. Flask asks of every hook and view, on every request, whether it is an ``async
    #    def`` (so it can run it on an event loop). The sandbox runs about fifteen hooks per
    #    request, and the answer for a function never changes: asked once, remembered (weakly:
    #    a function made for one request, like an after_this_request callback, still goes).
    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``func`` if it is a plain function; else what Flask runs it with."""
        try:
            if func in self._known_sync:
                return func
        except TypeError:  # not weakly referable (a builtin): just ask Flask
            return super().ensure_sync(func)
        wrapped = super().ensure_sync(func)
        if wrapped is func:
            with contextlib.suppress(TypeError):  # not weakly referable: asked again next time
                self._known_sync.add(func)
        return wrapped

    # 3. url_for: the landing page builds about seventy links (every module's lesson, source,
    #    switch...), and building one walks werkzeug's URL rules: a fifth of the page's time.
    #    Within a request, a link depends only on the endpoint, its values and where the
    #    app is mounted (SCRIPT_NAME: a class workspace's /w/<id>/, a proxy's prefix), so
    #    one built for the same three is the same link. Anything else (an anchor, a full
    #    URL with scheme and host, a value that is not plain text or a number) is built anew.
    def url_for(
        self,
        /,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: Any,
    ) -> str:
        """Return the URL of ``endpoint``, as Flask builds it, remembered when that is safe."""
        plain = (
            _anchor is None
            and _method is None
            and _scheme is None
            and _external is None
            and endpoint[:1] != "."  # relative to the request's blueprint
            and has_request_context()
            and not any(self.url_default_functions.values())  # values added per request
        )
        if plain:
            key = (request.environ.get("SCRIPT_NAME", ""), endpoint, *values.items())
            for value in values.values():
                if type(value) is not str and type(value) is not int:
                    plain = False
                    break
        if not plain:
            return super().url_for(
                endpoint,
                _anchor=_anchor,
                _method=_method,
                _scheme=_scheme,
                _external=_external,
                **values,
            )
        url = self._urls.get(key)
        if url is None:
            url = super().url_for(endpoint, **values)
            if len(self._urls) < URLS_KEPT:  # links with ids in them vary: keep a bounded few
                self._urls[key] = url
        return url


URLS_KEPT = 4096
