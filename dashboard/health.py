"""Liveness and readiness for load balancers and process supervisors."""

from __future__ import annotations

from flask import Blueprint, jsonify

from .extensions import db
from .overview.service import check_database, check_redis
from .redis_client import get_redis

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up: touches no Redis and no SQL, and the blueprint has no request hooks
    (identity, audit), so it answers while other requests wait on a hung Redis."""
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz():
    """Redis and the database both answer; 503 with each check's detail otherwise."""
    checks = [check_redis(get_redis()), check_database(db.session)]
    ready = all(c.ok for c in checks)
    body = {"ok": ready, "checks": {c.name: c.to_json() for c in checks}}
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    response.headers["Cache-Control"] = "no-store"
    return response
