"""Errors raised by services and how they reach the operator."""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request

from .core.errors import DashboardError
from .rendering import wants_fragment


def is_api_request() -> bool:
    return bool(request.blueprint and request.blueprint.endswith("_api"))


def dashboard_error(exc: DashboardError):
    """A service refusal: JSON (in English) for the API, a calm page in the operator's language."""
    if is_api_request():
        return jsonify(exc.to_json()), exc.status_code
    return render_template("error.html", message=exc.message), exc.status_code


def redis_down(exc: Exception):
    """Redis unreachable: a banner that recovers by itself, never a stack trace."""
    current_app.logger.warning("Redis unreachable: %s", exc)
    if is_api_request():
        return jsonify({"error": "Redis is unreachable", "detail": str(exc)}), 503
    template = "_redis_down.html" if wants_fragment() else "redis_down.html"
    return render_template(template), 503
