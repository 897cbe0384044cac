"""API: the bridge between a frontend and the backend logic

A JSON REST API over the notes under /api/: resources and methods, status codes,
pagination, filtering, conditional requests with ETags, errors as problem
details, and an OpenAPI contract with an interactive explorer at /api/docs.
Switch it off and the HTML pages at /notes keep working: the API is one door
to the same logic, not the logic itself.
"""

from sandbox.registry import Module

from .challenges import CHALLENGES
from .openapi import openapi
from .views import bp

module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    challenges=CHALLENGES,
    nav_links=(("API explorer", "api.docs"),),
    openapi=openapi,
)
