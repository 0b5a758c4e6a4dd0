"""CSRF tokens on the dashboard's own routes only (Flask-WTF's token, without CSRFProtect).

``CSRFProtect`` checks every route of the app it is given, a host's included; the dashboard
checks its own unsafe requests in its ``before_request`` instead (the JSON API is guarded by its
Content-Type rule, dashboard/api.py) and leaves the host's routes to the host. A host that runs
its own CSRFProtect is told to exempt the dashboard's API blueprints, whose clients send no token.

A dashboard tab stays open for hours: the token lives as long as the session does.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError, generate_csrf, validate_csrf
from wtforms import ValidationError

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FIELD = "csrf_token"
HEADER = "X-CSRFToken"
LIFETIME = 366 * 24 * 3600  # seconds; the session cookie ends first


def token() -> str:
    """The signed token for this session (the ``csrf_token()`` of the templates)."""
    return generate_csrf(token_key=FIELD)


def protect() -> None:
    """Refuse an unsafe request whose form field or header does not carry this session's token."""
    if request.method not in UNSAFE:
        return
    sent = request.form.get(FIELD) or request.headers.get(HEADER)
    try:
        validate_csrf(sent, time_limit=LIFETIME, token_key=FIELD)
    except ValidationError as exc:
        raise CSRFError(exc.args[0]) from exc
    g.csrf_valid = True  # the forms' own check (Flask-WTF) then passes, as with CSRFProtect


def exempt_with_host(app: Flask, blueprints) -> None:
    """A host's own CSRFProtect would refuse the API's token-less JSON: exempt those blueprints."""
    host_protect = app.extensions.get("csrf")
    if host_protect is not None:
        for blueprint in blueprints:
            host_protect.exempt(blueprint)


class DashboardForm(FlaskForm):
    """The dashboard's forms: the same token and lifetime as :func:`protect`, whatever the host's
    ``WTF_CSRF_*`` settings."""

    class Meta:
        csrf_field_name = FIELD
        csrf_time_limit = LIFETIME
