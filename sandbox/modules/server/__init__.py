"""Server: routes, requests and responses

What a web server does with one HTTP request: match a route, read the method,
headers, cookies and body, and answer with a status, headers and a body. An
httpbin-compatible playground under /server/ to try every part of HTTP.
"""

from sandbox.registry import Module

from .challenges import CHALLENGES
from .views import bp

module = Module(__name__, __doc__, blueprint=bp, challenges=CHALLENGES)
