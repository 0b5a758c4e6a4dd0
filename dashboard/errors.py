"""Errors raised by services and how they reach the operator."""

from __future__ import annotations

from flask import current_app, jsonify, render_template, request

from .rendering import wants_fragment


class DashboardError(Exception):
    """A refusal the operator can act on: bad input, unknown object, stale state."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.message}
        if self.field:
            body["field"] = self.field
        return body


class NotFound(DashboardError):
    status_code = 404


class Unprocessable(DashboardError):
    status_code = 422


def is_api_request() -> bool:
    return bool(request.blueprint and request.blueprint.endswith("_api"))


def dashboard_error(exc: DashboardError):
    """A service refusal: JSON for the API, a calm page otherwise."""
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
