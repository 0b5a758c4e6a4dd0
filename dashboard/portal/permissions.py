"""Who is asking, and the one decorator every mutating view wears."""

from __future__ import annotations

import uuid
from functools import wraps

from flask import Response, abort, current_app, g, make_response, request, session
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from ..api import BODY, BODY_REFUSED, json_document
from ..core.errors import DashboardError
from ..extensions import db
from ..mount import current
from ..mount import settings as mount_settings
from ..security import peer_address
from . import guards
from .service import (
    AuthSettings,
    Identity,
    address_in,
    check_basic,
    credentials_fingerprint,
    maybe_prune_audit,
    record_audit,
    role_for_groups,
)

# Identity for AUTH_MODE=none: everyone may do everything, and every page says so loudly.
ANONYMOUS_ADMIN = Identity(user="anonymous", role="admin")


def _basic_identity(settings: AuthSettings) -> Identity | None:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return None
    name = auth.username or ""
    user = settings.users.get(name)
    if user is not None:
        header = request.headers.get("Authorization", "")
        fingerprint = credentials_fingerprint(current_app.secret_key, user, header)
        if session.get("basic_verified") == fingerprint:
            return Identity(user=user.name, role=user.role)
    wait = guards.blocked_for(name)
    if wait:
        response = make_response(_too_many(wait), 429)
        response.headers["Retry-After"] = str(wait)
        abort(response)
    identity = check_basic(settings.users, name, auth.password or "")  # an unknown name: timed alike
    if identity is None:
        guards.count_failure(name)
    else:
        session["basic_verified"] = fingerprint
    return identity


def _too_many(wait: int) -> str:
    return str(_l("Too many failed sign-ins: try again in %(seconds)s s.", seconds=wait)) + "\n"


def _identity_from_request() -> Identity | None:
    config = mount_settings()
    mode = config["AUTH_MODE"]
    if mode == "none":
        return ANONYMOUS_ADMIN
    settings: AuthSettings = current().auth
    if mode == "basic":
        return _basic_identity(settings)
    # header: believe the portal's proxy only when the connection really comes from it.
    if not address_in(peer_address(), settings.trusted_proxies):
        return None
    user = request.headers.get(config["AUTH_USER_HEADER"], "").strip()
    if not user:
        return None
    groups = [
        g.strip() for g in request.headers.get(config["AUTH_GROUPS_HEADER"], "").split(",") if g.strip()
    ]
    role = role_for_groups(groups, settings.group_roles, config["AUTH_DEFAULT_ROLE"])
    return Identity(user=user[:255], role=role) if role else None


def load_identity() -> Response | None:
    """``before_request`` for dashboard routes: decide who is asking, or refuse."""
    g.request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    identity = _identity_from_request()
    if identity is None:
        g.identity = None
        if mount_settings()["AUTH_MODE"] == "basic":
            response = make_response("Sign in to use Taskdeck.\n", 401)
            response.headers["WWW-Authenticate"] = 'Basic realm="Taskdeck", charset="UTF-8"'
            return response
        abort(403, _l("No dashboard role for this request: sign in through the portal."))
    g.identity = identity
    return None


def refuse_cross_site() -> None:
    """``before_request`` after :func:`load_identity`: a change sent from another site is refused
    (403) and audited under the view's action, whatever the view (see :mod:`.guards`)."""
    refused = guards.cross_site_refusal()
    if not refused:
        return
    view = current_app.view_functions.get(request.endpoint or "")
    record_audit(
        db.session,
        current_identity() or Identity(user="unknown", role=""),
        getattr(view, "audit_action", None) or request.endpoint or request.path,
        target=",".join(f"{k}={v}" for k, v in sorted((request.view_args or {}).items())) or None,
        params={
            "origin": request.headers.get("Origin"),
            "sec_fetch_site": request.headers.get("Sec-Fetch-Site"),
        },
        result=f"refused {refused}",
        request_id=g.get("request_id"),
    )
    abort(403, _l("A change sent from another site is refused (%(site)s).", site=refused))


def current_identity() -> Identity | None:
    return g.get("identity")


def can(role: str) -> bool:
    """True when the current identity holds at least ``role`` (templates hide what it cannot do);
    ``setting:NAME`` is the role the mount's setting NAME names."""
    identity = current_identity()
    return identity is not None and identity.can(needed_role(role))


def requires_role(role: str):
    """Guard a read-only view that only some roles may see (e.g. the audit log)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not can(role):
                abort(403)
            return view(*args, **kwargs)

        wrapper.viewer_role = role
        return wrapper

    return decorate


def _request_params() -> object:
    """What the audit row keeps of the request: the body as the view decoded it (never parsed a
    second time), its text when the view refused it, nothing of a body refused for its size."""
    limit = request.max_content_length
    refused = g.get(BODY_REFUSED)
    if isinstance(refused, RequestEntityTooLarge) or (
        limit is not None and (request.content_length or 0) > limit
    ):
        return {"body": f"<{request.content_length or 'over'} bytes: not read, over the {limit}-byte limit>"}
    if BODY in g:
        return g.get(BODY)
    if refused is not None:
        return request.get_data(as_text=True)  # read already; kept as text, stored by the text rule
    try:
        if request.is_json and request.get_data():
            try:  # a view that did not decode its body: decoded here, once
                return json_document(members=2)
            except DashboardError:
                return request.get_data(as_text=True)
        return {k: v for k, v in request.form.items() if k != "csrf_token"}
    except RequestEntityTooLarge:  # a chunked body found too large only while read
        return {"body": f"<not read, over the {limit}-byte limit>"}


def needed_role(role: str) -> str:
    """``role``, or for ``setting:NAME`` the role the mount's setting NAME names."""
    return str(mount_settings()[role.removeprefix("setting:")]) if role.startswith("setting:") else role


def mutation(role: str, action: str):
    """Mark a view as a change: refuse it below ``role`` (or the role a ``setting:NAME`` names),
    and audit whatever happens."""

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
                maybe_prune_audit(db.session, mount_settings()["AUDIT_RETENTION_DAYS"])

            if not identity.can(needed_role(role)):
                audit("forbidden")
                abort(403)
            try:
                response = make_response(view(*args, **kwargs))
            except DashboardError as exc:
                db.session.rollback()
                audit(f"refused {exc.status_code}")
                raise
            except HTTPException as exc:
                db.session.rollback()
                audit(f"refused {exc.code}")
                raise
            audit(str(response.status_code))
            return response

        wrapper.required_role = role
        wrapper.audit_action = action
        return wrapper

    return decorate


def delegates_to(views: dict):
    """Mark a route that only picks one of ``views`` to run; each of those wears ``@mutation``.

    The route-guard test checks the chosen views instead of this one, so the role check and the
    single audit row stay with the view that really acts.
    """

    def decorate(view):
        view.delegates_to = views
        return view

    return decorate
