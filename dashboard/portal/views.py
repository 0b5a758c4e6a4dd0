"""The audit log: a page for admins and a JSON API."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..api import api_blueprint
from ..extensions import db
from ..rendering import page_or_fragment
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
def list_entries():
    filters = AuditFilter.from_args(request.args)
    entries, next_cursor = audit_page(db.session, filters)
    return jsonify({"entries": [e.to_json() for e in entries], "next_cursor": next_cursor})


def register_commands(group) -> None:
    """``flask taskdeck hash-password`` and ``flask taskdeck prune-audit``."""
    import click
    from flask import current_app
    from werkzeug.security import generate_password_hash

    from .service import prune_audit

    @group.command("hash-password")
    @click.argument("user")
    @click.argument("role", type=click.Choice(["viewer", "operator", "admin"]))
    @click.password_option()
    def hash_password(user: str, role: str, password: str) -> None:
        """Print an AUTH_BASIC_USERS entry for USER with ROLE."""
        click.echo(f"{user}:{role}:{generate_password_hash(password)}")

    @group.command("prune-audit")
    def prune() -> None:
        """Delete audit rows older than AUDIT_RETENTION_DAYS, in batches."""
        total = 0
        while deleted := prune_audit(db.session, current_app.config["AUDIT_RETENTION_DAYS"]):
            total += deleted
        click.echo(f"deleted {total} audit rows")
