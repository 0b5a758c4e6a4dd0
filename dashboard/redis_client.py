"""The app's Redis client and managed Celery app, as the app factory attached them.

The clients themselves are built in :mod:`dashboard.core.broker` (one per URL per process).
"""

from __future__ import annotations

import redis
from celery import Celery

from .core.broker import broker_for, broker_master, same_server
from .core.inspect import inspect_limits as limits_from_config
from .mount import current, settings


def get_redis() -> redis.Redis:
    """The app's Redis client (inside an app context)."""
    return current().redis


def get_celery() -> Celery:
    """The managed Celery app (inside an app context)."""
    return current().celery


def get_broker() -> redis.Redis:
    """The managed app's Redis broker (the dashboard's own client when they are the same server)."""
    config = settings()
    if config["CELERY_BROKER_URL"] == config["REDIS_URL"]:
        return get_redis()
    return broker_for(get_celery(), config["REDIS_SENTINEL_MASTER"])


def broker_on_dashboard_redis() -> bool:
    """True when the managed app's broker is the dashboard's own Redis server and database."""
    config = settings()
    master = config["REDIS_SENTINEL_MASTER"]
    broker_master_name = broker_master(get_celery(), master)
    return same_server(config["REDIS_URL"], config["CELERY_BROKER_URL"], master, broker_master_name)


def inspect_limits() -> dict[str, float]:
    """``timeout``, ``max_age`` and ``alive_within`` of the shared inspect cache, as callers pass them."""
    return limits_from_config(settings())
