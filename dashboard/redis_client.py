"""One Redis connection pool per process, built from ``REDIS_URL``.

``REDIS_URL`` may be ``redis://``, ``rediss://`` (TLS; ``?ssl_cert_reqs=...`` etc. as redis-py
reads them) or, for Redis Sentinel, kombu's form ``sentinel://[:password@]host:port/db`` with
several sentinels joined by ``;`` and the master's name in ``REDIS_SENTINEL_MASTER``.
"""

from __future__ import annotations

from urllib.parse import urlparse

import redis
from flask import current_app
from redis.sentinel import Sentinel

TIMEOUTS = {"socket_connect_timeout": 2, "socket_timeout": 5}


def connect(url: str, sentinel_master: str | None = None) -> redis.Redis:
    """A client that fails within seconds instead of hanging when Redis is away."""
    if url.startswith("sentinel://"):
        return _sentinel_master(url, sentinel_master)
    return redis.Redis.from_url(url, health_check_interval=30, **TIMEOUTS)


def _sentinel_master(url: str, master: str | None) -> redis.Redis:
    if not master:
        raise ValueError("a sentinel:// REDIS_URL needs REDIS_SENTINEL_MASTER (the monitored master's name)")
    nodes, password, db = [], None, 0
    for part in url.split(";"):
        parsed = urlparse(part.strip())
        nodes.append((parsed.hostname or "127.0.0.1", parsed.port or 26379))
        password = password or parsed.password
        if parsed.path.strip("/").isdigit():
            db = int(parsed.path.strip("/"))
    sentinel = Sentinel(nodes, sentinel_kwargs={**TIMEOUTS, "password": password}, **TIMEOUTS)
    return sentinel.master_for(master, db=db, password=password)


def get_redis() -> redis.Redis:
    """The app's Redis client (inside an app context)."""
    return current_app.extensions["taskdeck_redis"]


def get_celery():
    """The managed Celery app (inside an app context)."""
    return current_app.extensions["taskdeck_celery"]


def inspect_limits() -> dict[str, float]:
    """``timeout`` and ``max_age`` for the shared inspect cache, as every caller passes them."""
    config = current_app.config
    return {"timeout": config["INSPECT_TIMEOUT"], "max_age": config["WORKERS_CACHE_SECONDS"]}
