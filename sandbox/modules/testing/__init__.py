"""Testing: tests you write, run against your own sandbox, and what the server saw of them

A pytest plugin ships with the sandbox (``sandbox.testing``, its code in pytest_plugin.py here):
its ``sandbox`` fixture starts a fresh sandbox for each test, or reaches yours
(``--sandbox-url``), and marks every request a test sends with the test's name. At the end
of the session it reports each test's outcome here; the server sets them beside the marked
requests it saw, so a run shows which tests really tested the sandbox. Catch a planted bug
of the logging module with a test that fails, then passes once the bug is off.
"""

from sandbox.registry import Module

from . import marks, runs
from .challenges import CHALLENGES
from .openapi import openapi
from .views import bp

module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    challenges=CHALLENGES,
    # On by default: it only notes requests that carry the test headers and receives
    # reports. A request without X-Sandbox-Test costs one header lookup, and no answer
    # changes, so a learner's first `pytest --sandbox-url` works without a switch.
    enabled_by_default=True,
    after_request=marks.after_request,
    reset=runs.reset,
    openapi=openapi,
    nav_links=(("Test runs", "testing.page"),),
    # Test runs are the history of whoever ran them: a hand-out starts with none.
    not_handed_out=("testing_requests", "testing_runs", "testing_results"),
)
