"""One Redis connection pool per process, built from ``REDIS_URL``."""

from __future__ import annotations

import redis
from flask import current_app


def connect(url: str) -> redis.Redis:
    """A client that fails within seconds instead of hanging when Redis is away."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)


def get_redis() -> redis.Redis:
    """The app's Redis client (inside an app context)."""
    return current_app.extensions["taskdeck_redis"]


def get_celery():
    """The managed Celery app (inside an app context)."""
    return current_app.extensions["taskdeck_celery"]
