"""The one decorator every mutating view wears: role check, then an audit row."""

from __future__ import annotations

import uuid
from functools import wraps

from flask import abort, current_app, g, make_response, request

from ..errors import DashboardError
from ..extensions import db
from .service import Identity, record_audit

# Identity for AUTH_MODE=none: everyone may do everything, and the page says so loudly.
ANONYMOUS_ADMIN = Identity(user="anonymous", role="admin")


def load_identity() -> None:
    """``before_request`` hook: decide who is asking."""
    g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    mode = current_app.config["AUTH_MODE"]
    if mode == "none":
        g.identity = ANONYMOUS_ADMIN
    else:  # pragma: no cover - config validation refuses other modes
        abort(500)


def current_identity() -> Identity:
    return g.identity


def _request_params() -> object:
    data = request.get_json(silent=True)
    if data is None:
        data = {k: v for k, v in request.form.items() if k != "csrf_token"}
    return data


def mutation(role: str, action: str):
    """Mark a view as a change: refuse it below ``role``, and audit whatever happens."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            identity = current_identity()
            target = ",".join(f"{k}={v}" for k, v in sorted(kwargs.items())) or None

            def audit(result: str) -> None:
                record_audit(
                    db.session,
                    identity,
                    action,
                    target=target,
                    params=_request_params(),
                    result=result,
                    request_id=g.get("request_id"),
                )

            if not identity.can(role):
                audit("forbidden")
                abort(403)
            try:
                response = make_response(view(*args, **kwargs))
            except DashboardError as exc:
                db.session.rollback()
                audit(f"refused {exc.status_code}")
                raise
            audit(str(response.status_code))
            return response

        wrapper.required_role = role
        wrapper.audit_action = action
        return wrapper

    return decorate
