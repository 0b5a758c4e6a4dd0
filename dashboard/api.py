"""Shared shape of the JSON API blueprints under ``/api/v1/``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def api_blueprint(name: str, import_name: str, area_prefix: str) -> Blueprint:
    """A blueprint for ``/api/v1/<area_prefix>``.

    API routes are exempt from the form CSRF token; instead a mutating request must say
    ``Content-Type: application/json``, which a cross-site form or image cannot send.
    """
    bp = Blueprint(name, import_name, url_prefix=f"/api/v1/{area_prefix}")

    @bp.before_request
    def require_json_for_changes():
        if request.method in MUTATING and not request.is_json:
            return jsonify({"error": "mutating API requests must send Content-Type: application/json"}), 415
        return None

    return bp


def json_body() -> dict:
    """The request's JSON object; an empty or missing body is an empty object.

    Decoded with the dashboard's one JSON decoder: a member nested too deep is refused naming
    it (422), where Python's own decoder would recurse into a RecursionError.
    """
    from flask_babel import lazy_gettext as _l

    from .core.errors import DashboardError
    from .core.json_text import MalformedJSON, decode_json

    body = request.get_data()
    if not body:
        return {}
    try:
        data = decode_json(body, "body", members=1)
    except MalformedJSON:
        data = None
    if not isinstance(data, dict):
        raise DashboardError(_l("the request body must be a JSON object"))
    return data
