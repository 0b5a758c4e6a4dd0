"""Health checks of the parts the dashboard depends on; no request context needed.

Details are in the request's language on a page, in English elsewhere (health probes, scripts).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from datetime import timedelta

import redis
from celery import Celery
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import func, text
from sqlalchemy.orm import Session

from .. import heartbeat
from ..core.broker import configured_queues, layout_for, queue_depths
from ..core.inspect import ALIVE_WITHIN, worker_presence
from ..core.staging import staged_count
from ..history import keys as history_keys
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
    warning: bool = False  # running, but something needs a look (shown beside OK)

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
    alive_within: float = ALIVE_WITHIN,
    redis_ok: bool,
) -> Check:
    """Workers answering ping and those seen within ``alive_within`` that did not (dashboard.core.inspect)."""
    if not redis_ok:
        return Check("workers", None, _("unknown while the broker is unreachable"), link="workers.index")
    presence = worker_presence(
        client, prefix, celery_app, timeout=timeout, max_age=max_age, alive_within=alive_within
    )
    if presence.error:
        return Check("workers", False, presence.error, link="workers.index")
    names, missing = presence.answering, presence.unresponsive
    if presence.pending:
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
        from ..core.beat import beat_status
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
    unconfirmed = int(getattr(status, "unconfirmed", 0) or 0)
    if unconfirmed:
        detail += "; " + _("%(count)s claimed runs waiting for the broker", count=unconfirmed)
        return Check("beat", False, detail, items, link="schedules.index")
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
    """The recorder's heartbeats, and a warning once it had to skip records it could not store."""
    check = _heartbeat_check(client, prefix, "recorder", "history.index")
    skipped = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in client.hgetall(history_keys.skipped_records(prefix)).items()
    }
    count = int(skipped.get("count") or 0)
    if not count:
        return check
    note = ngettext(
        "%(num)s record skipped (last: %(task_id)s)",
        "%(num)s records skipped (last: %(task_id)s)",
        count,
        task_id=skipped.get("last_task_id", "?"),
    )
    items = [*check.items, skipped.get("last_reason", "")]
    return replace(check, detail=f"{check.detail}; {note}", items=items, warning=True)


def check_queues(broker: redis.Redis, celery_app: Celery) -> Check:
    """Messages waiting in the app's configured queues, over every priority step of its layout."""
    names = configured_queues(celery_app)
    depths = {
        name: sum(steps.values())
        for name, steps in queue_depths(broker, layout_for(celery_app), names).items()
    }
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


def check_staged(client: redis.Redis, prefix: str) -> Check:
    """Items waiting in the staging list."""
    count = staged_count(client, prefix)
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
