"""Health checks of the parts the dashboard depends on; no request context needed."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

import redis
from celery import Celery
from sqlalchemy import text
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class Check:
    """The state of one dependency. ``ok`` is None when the state is unknown or not applicable."""

    name: str
    ok: bool | None
    detail: str
    items: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, **({"items": self.items} if self.items else {})}


def check_redis(client: redis.Redis) -> Check:
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    except redis.exceptions.RedisError as exc:
        return Check("redis", False, f"unreachable: {exc}")
    return Check("redis", True, f"Redis {version} answers")


def check_database(session: Session) -> Check:
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        session.rollback()
        return Check("database", False, f"unreachable: {type(exc).__name__}")
    dialect = session.get_bind().dialect.name
    return Check("database", True, f"{dialect} answers")


def check_workers(celery_app: Celery, timeout: float, redis_ok: bool) -> Check:
    """Ping every worker; only tried when the broker answers, so a page never hangs on it."""
    if not redis_ok:
        return Check("workers", None, "unknown while the broker is unreachable")
    try:
        replies = celery_app.control.inspect(timeout=timeout).ping() or {}
    except Exception as exc:  # kombu raises transport-specific errors
        return Check("workers", False, f"ping failed: {type(exc).__name__}")
    names = sorted(replies)
    if not names:
        return Check("workers", False, f"no worker answered ping within {timeout:g} s")
    return Check("workers", True, f"{len(names)} answering", names)


def check_beat() -> Check:
    """Beat reports nothing the dashboard can read until it runs the database scheduler."""
    return Check("beat", None, "not reporting: the database scheduler is not part of this version yet")


def check_flower(flower_url: str | None, timeout: float) -> Check:
    if not flower_url:
        return Check("flower", None, "FLOWER_URL is not set")
    probe = flower_url.rstrip("/") + "/healthcheck"
    try:
        with urllib.request.urlopen(probe, timeout=timeout) as response:  # noqa: S310 - configured URL
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        return Check("flower", False, f"unreachable: {exc}")
    return Check("flower", ok, "answers" if ok else "unexpected reply")
