"""Server: routes, requests and responses

What a web server does with one HTTP request: match a route, read the method,
headers, cookies and body, and answer with a status, headers and a body. An
httpbin-compatible playground under /server/ to try every part of HTTP.
"""

from sandbox.registry import Module

from .challenges import CHALLENGES
from .views import bp

# open_to_other_sites: like httpbin, any website may call the playground (its answers carry
# CORS headers for that). It keeps no state, and it never sets the sandbox's own cookies.
module = Module(__name__, __doc__, blueprint=bp, challenges=CHALLENGES, open_to_other_sites=True)
