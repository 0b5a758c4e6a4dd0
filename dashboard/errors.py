"""Errors raised by services and how they reach the operator."""

from __future__ import annotations

import socket
from urllib.parse import quote, urlencode

import redis
from celery.exceptions import BackendGetMetaError
from flask import current_app, jsonify, request
from kombu.exceptions import OperationalError

from .core.errors import DashboardError
from .rendering import wants_fragment
from .templating import render_template

# What a page sees when Redis (the dashboard's, the broker or the result backend) is down or hung:
# redis-py's own errors, kombu's wrapper of them (a publish, an inspect, a connection), the socket
# timeout kombu raises itself, and the result backend's read error once its retries are spent.
REDIS_UNREACHABLE: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OperationalError,
    socket.timeout,  # the builtin TimeoutError
    BackendGetMetaError,
)
# Tells static/app.js that a 503 carries the banner, not some proxy's error page.
UNREACHABLE_HEADER = "X-Taskdeck-Unreachable"


def is_api_request() -> bool:
    return bool(request.blueprint and request.blueprint.endswith("_api"))


def dashboard_error(exc: DashboardError):
    """A service refusal: JSON (in English) for the API, a calm page in the operator's language."""
    if is_api_request():
        return jsonify(exc.to_json()), exc.status_code
    return render_template("error.html", message=exc.message), exc.status_code


def recovery_url() -> str | None:
    """The address the banner polls to come back: this GET's, under the mount prefix.

    ``since`` is dropped: it names the version the replaced region showed, and the banner needs the
    whole region back, not a "nothing changed". Not a GET (a form's POST): None, nothing to poll.
    """
    if request.method != "GET":
        return None
    query = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "since"])
    return quote(request.script_root + request.path) + (f"?{query}" if query else "")


def redis_down(exc: Exception):
    """Redis unreachable: a banner that recovers by itself, never a stack trace (503)."""
    current_app.logger.warning("Redis unreachable: %s: %s", type(exc).__name__, exc)
    if is_api_request():
        return jsonify({"error": "Redis is unreachable", "detail": str(exc)}), 503
    template = "_redis_down.html" if wants_fragment() else "redis_down.html"
    response = current_app.make_response((render_template(template, recovery_url=recovery_url()), 503))
    response.headers[UNREACHABLE_HEADER] = "1"
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response
