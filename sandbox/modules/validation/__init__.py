"""Validation: check every request at the door

What a valid note is, is written once, as pydantic models: they check every request
body and they are the OpenAPI document's schemas, so the two cannot disagree. A wrong
body gets one 422 listing every field error: where, what was wrong, how to fix it.
Switch the module off and note bodies and forms are stored as sent: a title of a
megabyte, ten thousand tags, a number where text belongs. Nothing crashes; the cost
shows later, and each record says what got in. Logins, keys and switches stay checked.
"""

from sandbox.registry import Module

from .challenges import CHALLENGES
from .openapi import openapi
from .provider import NoteValidation
from .views import after_request, bp

module = Module(
    __name__,
    __doc__,
    blueprint=bp,
    challenges=CHALLENGES,
    enabled_by_default=True,  # the sandbox validated before this module existed
    provides={"note_validation": NoteValidation()},
    after_request=after_request,
    openapi=openapi,
)
