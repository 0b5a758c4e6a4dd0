"""Health checks of the parts the dashboard depends on; no request context needed.

Details are in the request's language on a page, in English elsewhere (health probes, scripts).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from celery import Celery
from flask_babel import gettext as _
from sqlalchemy import func, text
from sqlalchemy.orm import Session

from .. import heartbeat
from ..timeutil import utcnow


@dataclass(frozen=True)
class Check:
    """The state of one dependency. ``ok`` is None when the state is unknown or not applicable."""

    name: str
    ok: bool | None
    detail: str
    items: list[str] = field(default_factory=list)
    link: str | None = None  # endpoint of the page this tile leads to
    link_args: dict[str, str] = field(default_factory=dict)
    value: str | None = None  # a count shown instead of OK/DOWN

    def to_json(self) -> dict[str, object]:
        return {"ok": self.ok, "detail": self.detail, **({"items": self.items} if self.items else {})}


def check_redis(client: redis.Redis) -> Check:
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    except redis.exceptions.RedisError as exc:
        return Check("redis", False, _("unreachable: %(error)s", error=exc), link="queues.index")
    return Check("redis", True, _("Redis %(version)s answers", version=version), link="queues.index")


def check_database(session: Session) -> Check:
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not ready"
        session.rollback()
        return Check(
            "database", False, _("unreachable: %(error)s", error=type(exc).__name__), link="history.index"
        )
    dialect = session.get_bind().dialect.name
    return Check("database", True, _("%(database)s answers", database=dialect), link="history.index")


def check_workers(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    *,
    timeout: float,
    max_age: float,
    offline_after: float,
    redis_ok: bool,
) -> Check:
    """Workers answering ping, read from the shared coalesced inspect cache (see the workers area)."""
    if not redis_ok:
        return Check("workers", None, _("unknown while the broker is unreachable"), link="workers.index")
    from ..workers import service as workers

    ping = workers.inspect_cached(client, prefix, celery_app, "ping", timeout=timeout, max_age=max_age)
    if ping.error:
        return Check("workers", False, ping.error, link="workers.index")
    seen = workers.last_seen(client, prefix)
    now = time.time()
    missing = sorted(h for h, at in seen.items() if h not in ping.replies and now - at <= offline_after)
    names = ping.hostnames
    if ping.taken_at is None:
        return Check("workers", None, _("waiting for the first answer to ping"), link="workers.index")
    detail = _("%(count)s answering", count=len(names))
    if missing:
        detail += ", " + _("%(count)s unresponsive", count=len(missing))
    if not names:
        return Check(
            "workers",
            False,
            _("no worker answered ping within %(seconds)s s", seconds=f"{timeout:g}"),
            missing,
            link="workers.index",
        )
    return Check(
        "workers",
        not missing,
        detail,
        names + [_("%(host)s (unresponsive)", host=h) for h in missing],
        link="workers.index",
    )


def check_beat(client: redis.Redis, prefix: str) -> Check:
    """Beat's lock holder and last tick: from the schedules area when it reports, else heartbeats."""
    try:
        from ..schedules.service import beat_status
    except ImportError:
        return _heartbeat_check(client, prefix, "beat", "schedules.index")
    status = beat_status(client, prefix)
    holder = getattr(status, "holder", None)
    tick = getattr(status, "last_tick", None)
    instances = list(getattr(status, "instances", []) or [])
    items = [f"{i.instance} ({getattr(i, 'role', '?')})" for i in instances]
    if holder is None:
        detail = _("no beat holds the lock")
        if instances:
            detail += "; " + _("%(count)s standing by", count=len(instances))
        return Check("beat", False, detail, items, link="schedules.index")
    detail = _("lock held by %(holder)s", holder=holder)
    if tick is not None:
        age = max(0.0, time.time() - tick.timestamp()) if hasattr(tick, "timestamp") else None
        detail += ", " + (
            _("last tick %(seconds)s s ago", seconds=f"{age:.0f}")
            if age is not None
            else _("last tick %(when)s", when=tick)
        )
    return Check("beat", True, detail, items, link="schedules.index")


def _heartbeat_check(client: redis.Redis, prefix: str, kind: str, link: str) -> Check:
    beats = heartbeat.alive(client, prefix, kind)
    if not beats:
        return Check(
            kind,
            False,
            _("no %(process)s is running (no live heartbeat)", process=_process_name(kind)),
            link=link,
        )
    newest = beats[0]
    items = [
        _("%(instance)s (%(seconds)s s ago)", instance=b.instance, seconds=f"{b.age:.0f}") for b in beats
    ]
    return Check(
        kind,
        True,
        _("%(count)s alive, last beat %(seconds)s s ago", count=len(beats), seconds=f"{newest.age:.0f}"),
        items,
        link=link,
    )


def _process_name(kind: str) -> str:
    names = {"beat": _("beat"), "dispatcher": _("dispatcher"), "recorder": _("recorder")}
    return names.get(kind, kind)


def check_dispatcher(client: redis.Redis, prefix: str) -> Check:
    return _heartbeat_check(client, prefix, "dispatcher", "staging.index")


def check_recorder(client: redis.Redis, prefix: str) -> Check:
    return _heartbeat_check(client, prefix, "recorder", "history.index")


PRIORITY_STEPS = (3, 6, 9)
PRIORITY_SEP = "\x06\x16"


def default_queues(celery_app: Celery) -> list[str]:
    """The queues the Celery app declares, plus its default queue."""
    names = [q.name for q in (celery_app.conf.task_queues or [])]
    default = celery_app.conf.task_default_queue or "celery"
    return names if default in names else [default, *names]


def check_queues(broker: redis.Redis, celery_app: Celery) -> Check:
    """Messages waiting in the default queues (each with its priority sub-lists)."""
    names = default_queues(celery_app)
    with broker.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.llen(name)
            for step in PRIORITY_STEPS:
                pipe.llen(f"{name}{PRIORITY_SEP}{step}")
        lengths = pipe.execute()
    per = len(PRIORITY_STEPS) + 1
    depths = {name: sum(lengths[i * per : (i + 1) * per]) for i, name in enumerate(names)}
    total = sum(depths.values())
    items = [f"{name}: {depth}" for name, depth in depths.items()]
    return Check(
        "queues",
        True,
        _("%(total)s waiting in %(count)s queues", total=total, count=len(names)),
        items,
        link="queues.index",
        value=str(total),
    )


def check_failures(session: Session, window_seconds: int = 3600) -> Check:
    """Runs that failed within the last hour, from the history table."""
    from ..core.runs import TaskRun

    since = utcnow() - timedelta(seconds=window_seconds)
    try:
        count = (
            session.query(func.count(TaskRun.seq))
            .filter(TaskRun.state == "FAILURE", TaskRun.finished_at >= since)
            .scalar()
        )
    except Exception as exc:  # the database check reports the cause
        session.rollback()
        return Check(
            "failures", None, _("unknown: %(error)s", error=type(exc).__name__), link="history.index"
        )
    return Check(
        "failures",
        count == 0,
        _("%(count)s failed in the last hour", count=count),
        link="history.index",
        link_args={"state": "FAILURE"},
        value=str(count),
    )


def check_staged(client: redis.Redis, prefix: str) -> Check | None:
    """Items waiting in the staging list; None while the staging area offers no count."""
    try:
        from ..staging import service as staging
    except ImportError:
        return None
    count_fn = getattr(staging, "staged_count", None)
    if count_fn is None:
        return None
    count = int(count_fn(client, prefix))
    return Check(
        "staged", True, _("%(count)s waiting in staging", count=count), link="staging.index", value=str(count)
    )


def check_flower(flower_url: str | None, timeout: float) -> Check:
    if not flower_url:
        return Check("flower", None, _("%(setting)s is not set", setting="FLOWER_URL"))
    probe = flower_url.rstrip("/") + "/healthcheck"
    try:
        with urllib.request.urlopen(probe, timeout=timeout) as response:  # noqa: S310 - configured URL
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        return Check("flower", False, _("unreachable: %(error)s", error=exc))
    return Check("flower", ok, _("answers") if ok else _("unexpected reply"))
