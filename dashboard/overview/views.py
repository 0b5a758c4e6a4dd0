"""The overview page and its polled status tiles."""

from __future__ import annotations

from flask import Blueprint, abort, current_app

from ..extensions import db
from ..redis_client import get_celery, get_redis
from ..rendering import fragment_only, page_or_fragment
from . import service

bp = Blueprint("overview", __name__)

TILES = ("redis", "database", "workers", "beat", "flower")


def _check(name: str, redis_ok: bool | None = None) -> service.Check:
    config = current_app.config
    if name == "redis":
        return service.check_redis(get_redis())
    if name == "database":
        return service.check_database(db.session)
    if name == "workers":
        if redis_ok is None:
            redis_ok = bool(service.check_redis(get_redis()).ok)
        return service.check_workers(get_celery(), config["INSPECT_TIMEOUT"], redis_ok)
    if name == "beat":
        return service.check_beat()
    return service.check_flower(config["FLOWER_URL"], config["INSPECT_TIMEOUT"])


@bp.get("/")
def index():
    redis_check = _check("redis")
    checks = [redis_check] + [_check(name, bool(redis_check.ok)) for name in TILES[1:]]
    return page_or_fragment("overview/index.html", "overview/_tiles.html", live=True, checks=checks)


@bp.get("/overview/tiles/<name>")
def tile(name: str):
    if name not in TILES:
        abort(404)
    return fragment_only("overview/_tile.html", check=_check(name))
