"""The audit log: a page for admins and a JSON API."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import lazy_gettext as _l

from ..api import api_blueprint
from ..extensions import db
from ..openapi import api_operation
from ..rendering import page_or_fragment
from . import schemas
from .permissions import requires_role
from .service import AuditFilter, audit_page

bp = Blueprint("audit", __name__, url_prefix="/audit")
api = api_blueprint("audit_api", __name__, "audit")


@bp.get("/")
@requires_role("admin")
def index():
    filters = AuditFilter.from_args(request.args)
    entries, next_cursor = audit_page(db.session, filters)
    return page_or_fragment(
        "portal/audit.html",
        "portal/_audit_rows.html",
        entries=entries,
        filters=filters,
        next_cursor=next_cursor,
    )


@api.get("")
@requires_role("admin")
@api_operation(
    _l("The audit log, newest first"),
    tag="audit",
    query=schemas.AuditQuery,
    responses={200: schemas.AuditPage},
)
def list_entries():
    filters = AuditFilter.from_args(request.args)
    entries, next_cursor = audit_page(db.session, filters)
    return jsonify({"entries": [e.to_json() for e in entries], "next_cursor": next_cursor})
