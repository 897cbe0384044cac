"""CSRF protection for HTML forms.

A form on another website can make your browser POST to this one, cookies
included. To tell our own forms apart, each carries a random token that is also
kept in the (signed) session: a forged form cannot know it.
"""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from .errors import SandboxError


class CSRFFailed(SandboxError):
    """A form came without the token this sandbox gave it."""

    status = 400
    title = "Form expired or forged"


def csrf_token() -> str:
    """Return this session's form token, making one on first use."""
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


def check_csrf() -> None:
    """Refuse a form POST whose token is missing or wrong."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf_token", "")
    # compare_digest takes the same time whatever matches, so timing reveals nothing. It
    # compares bytes: given text, it refuses any that is not ASCII (a forged form may send any).
    if not expected or not hmac.compare_digest(sent.encode(errors="replace"), expected.encode()):
        raise CSRFFailed(
            "This form's security token is missing or out of date. Reload the page "
            "and send the form again."
        )
