"""The overview page and its polled status tiles."""

from __future__ import annotations

import redis
from flask import Blueprint, abort

from ..core.errors import DashboardError
from ..extensions import db
from ..history.charts import build_charts
from ..mount import settings
from ..redis_client import get_broker, get_celery, get_redis, inspect_limits
from ..rendering import fragment_only, page_or_fragment
from . import service

bp = Blueprint("overview", __name__)

TILES = (
    "redis",
    "database",
    "workers",
    "beat",
    "dispatcher",
    "recorder",
    "flower",
    "queues",
    "failures",
    "staged",
)
# Tiles that read Redis: when it is down they say "unknown" instead of failing the whole page.
_NEEDS_REDIS = ("beat", "dispatcher", "recorder", "queues", "staged")


def _check(name: str, redis_ok: bool | None = None) -> service.Check | None:
    config = settings()
    prefix = config["TASKDECK_KEY_PREFIX"]
    if name == "redis":
        return service.check_redis(get_redis())
    if name == "database":
        return service.check_database(db.session)
    if name == "failures":
        return service.check_failures(db.session)
    if name == "flower":
        return service.check_flower(config["FLOWER_URL"], config["INSPECT_TIMEOUT"])
    if redis_ok is None:
        redis_ok = bool(service.check_redis(get_redis()).ok)
    if name == "workers":
        return service.check_workers(
            get_redis(),
            prefix,
            get_celery(),
            **inspect_limits(),
            redis_ok=redis_ok,
        )
    if not redis_ok:
        return service.Check(name, None, "unknown while Redis is unreachable")
    try:
        if name == "beat":
            return service.check_beat(get_redis(), prefix)
        if name == "dispatcher":
            return service.check_dispatcher(get_redis(), prefix)
        if name == "recorder":
            return service.check_recorder(get_redis(), prefix)
        if name == "queues":
            return service.check_queues(get_broker(), get_celery())
        return service.check_staged(get_redis(), prefix)
    except (redis.RedisError, DashboardError) as exc:  # DashboardError: a broker that is not Redis
        return service.Check(name, None, f"unknown: {type(exc).__name__}")


@bp.get("/")
def index():
    redis_check = _check("redis")
    checks = [redis_check] + [_check(name, bool(redis_check.ok)) for name in TILES[1:]]
    checks = [check for check in checks if check is not None]
    return page_or_fragment(
        "overview/index.html",
        "overview/_tiles.html",
        live=True,
        checks=checks,
        charts=build_charts(db.session, "hour"),
    )


@bp.get("/overview/tiles/<name>")
def tile(name: str):
    if name not in TILES:
        abort(404)
    check = _check(name)
    if check is None:
        abort(404)
    return fragment_only("overview/_tile.html", check=check)
