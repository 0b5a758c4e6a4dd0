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

    Decoded with the dashboard's one JSON decoder: a member nested too deep, or holding a lone
    surrogate, is refused naming it (422), where Python's own decoder would recurse into a
    RecursionError or pass text that is not Unicode. Decoded once per request (see ``json_document``).
    """
    from flask_babel import lazy_gettext as _l

    from .core.errors import DashboardError
    from .core.json_text import MalformedJSON

    try:
        data = json_document(members=1)
    except MalformedJSON:
        data = None
    if data is None and not request.get_data():
        return {}
    if not isinstance(data, dict):
        raise DashboardError(_l("the request body must be a JSON object"))
    return data


# What ``json_document`` left on ``flask.g``: the decoded body, or why it was not decoded.
BODY, BODY_REFUSED = "taskdeck_body", "taskdeck_body_refused"


def json_document(members: int = 1) -> object:
    """The request body decoded once with the one decoder (None when empty), kept on ``flask.g``
    for the audit row, which thus never parses a body again nor reads one refused for its size.

    ``members``: see ``core.json_text.decode_json`` (1 for an object of fields, 2 for a list of them).
    """
    from flask import g
    from werkzeug.exceptions import RequestEntityTooLarge

    from .core.errors import DashboardError
    from .core.json_text import decode_json

    if BODY in g:
        return g.get(BODY)
    if BODY_REFUSED in g:
        raise g.get(BODY_REFUSED)
    try:
        body = request.get_data()
        limit = request.max_content_length
        if request.content_length is None and limit is not None and len(body) >= limit:
            # A streamed (chunked) body is cut at the limit by werkzeug without a word: a body
            # that reaches the limit is taken as over it, never decoded truncated.
            raise RequestEntityTooLarge()
        data = decode_json(body, "body", members=members) if body else None
    except (DashboardError, RequestEntityTooLarge) as exc:
        setattr(g, BODY_REFUSED, exc)
        raise
    setattr(g, BODY, data)
    return data
