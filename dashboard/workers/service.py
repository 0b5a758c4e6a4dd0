"""The worker list, one worker's status and its detail page, from the shared inspect cache.

Every answer comes through :mod:`dashboard.core.inspect`, so however many pages poll, each kind
reaches the workers at most once per interval. No Flask request objects here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core.errors import NotFound, Unprocessable
from ..core.inspect import (
    ALIVE_WITHIN,
    InspectSnapshot,
    forget,
    inspect_cached,
    inspect_many,
    last_seen,
    redis_now,
    status_of,
)
from .replies import QueueInfo, RegisteredTask, TaskInfo, WorkerInfo, mask_credentials

LIST_KINDS = ("ping", "stats", "active", "active_queues")
DETAIL_KINDS = ("active", "reserved", "scheduled", "revoked", "registered", "active_queues", "stats", "conf")
HOSTNAME_RE = re.compile(r"^[\w.@:+\-]{1,255}$")


# --------------------------------------------------------------------------- the worker list


@dataclass(frozen=True)
class WorkerRow:
    """One line of the worker list: status plus what stats/active/active_queues said."""

    hostname: str
    status: str  # online, unresponsive, offline
    last_seen: float | None
    info: WorkerInfo | None
    in_use: int | None
    queues: list[str]

    @property
    def load(self) -> float | None:
        """Share of the pool busy right now (active tasks / concurrency)."""
        if self.in_use is None or not self.info or not self.info.pool_size:
            return None
        return self.in_use / self.info.pool_size

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["load"] = self.load
        return body


@dataclass(frozen=True)
class WorkerList:
    rows: list[WorkerRow]
    taken_at: float | None
    timeout: float
    error: str | None
    stale: bool
    pending: bool = False  # no ping answer has been collected yet

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": [row.to_json() for row in self.rows],
            "inspected_at": self.taken_at,
            "timeout": self.timeout,
            "error": self.error,
            "stale": self.stale,
        }


def list_workers(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    *,
    timeout: float,
    max_age: float,
    offline_after: float,
    forget_after: float,
    fetch: Callable[[tuple[str, ...]], dict[str, InspectSnapshot]] | None = None,
) -> WorkerList:
    """Every worker answering ping, plus those seen within ``forget_after`` seconds.

    ``fetch`` replaces the coalesced cache (the benchmark's uncached baseline passes one).
    """
    if fetch is not None:
        snaps = fetch(LIST_KINDS)
    else:
        snaps = inspect_many(
            client,
            prefix,
            celery_app,
            LIST_KINDS,
            timeout=timeout,
            max_age=max_age,
            alive_within=offline_after,
        )
    ping, stats, active, queues = (snaps[k] for k in LIST_KINDS)
    seen = last_seen(client, prefix)
    now = redis_now(client)
    forgotten = [host for host, at in seen.items() if now - at > forget_after and host not in ping.replies]
    forget(client, prefix, forgotten)
    hosts = (set(seen) - set(forgotten)) | set(ping.replies)
    rows = []
    for host in sorted(hosts):
        host_stats = stats.reply(host)
        host_active = active.reply(host)
        host_queues = queues.reply(host)
        rows.append(
            WorkerRow(
                hostname=host,
                status=status_of(host, ping, seen.get(host), now, offline_after),
                last_seen=seen.get(host, ping.taken_at if host in ping.replies else None),
                info=WorkerInfo.from_stats(host, host_stats) if host_stats is not None else None,
                in_use=len(host_active) if isinstance(host_active, list) else None,
                queues=[QueueInfo.from_reply(q).name for q in host_queues or [] if isinstance(q, dict)],
            )
        )
    errors = [s.error for s in snaps.values() if s.error]
    return WorkerList(
        rows=rows,
        taken_at=ping.taken_at,
        timeout=timeout,
        error="; ".join(errors) or None,
        stale=any(s.stale for s in snaps.values()),
        pending=ping.taken_at is None,
    )


# --------------------------------------------------------------------------- one worker


@dataclass(frozen=True)
class WorkerDetail:
    """Everything the worker page shows, each section from its own (cached) inspect reply."""

    hostname: str
    status: str
    last_seen: float | None
    snapshots: dict[str, InspectSnapshot] = field(default_factory=dict)

    def section(self, kind: str) -> Any:
        return section_data(kind, self.snapshots[kind], self.hostname)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"hostname": self.hostname, "status": self.status, "last_seen": self.last_seen}
        for kind, snap in self.snapshots.items():
            data = self.section(kind)
            if isinstance(data, list):
                data = [asdict(item) if hasattr(item, "__dataclass_fields__") else item for item in data]
            elif hasattr(data, "__dataclass_fields__"):
                data = asdict(data)
            body[kind] = data
            body.setdefault("inspected_at", {})[kind] = snap.taken_at
        return body


def section_data(kind: str, snap: InspectSnapshot, hostname: str) -> Any:
    """The typed content of one section for ``hostname``; None when the worker did not answer."""
    reply = snap.reply(hostname)
    if reply is None:
        return None
    if kind in ("active", "reserved"):
        return [TaskInfo.from_request(item) for item in reply if isinstance(item, dict)]
    if kind == "scheduled":
        return [TaskInfo.from_scheduled(item) for item in reply if isinstance(item, dict)]
    if kind == "active_queues":
        return [QueueInfo.from_reply(item) for item in reply if isinstance(item, dict)]
    if kind == "registered":
        return [RegisteredTask.from_line(str(item)) for item in reply]
    if kind == "revoked":
        return [str(item) for item in reply]
    if kind == "stats":
        return WorkerInfo.from_stats(hostname, reply)
    if kind == "conf":
        if not isinstance(reply, dict):
            return {}
        return {str(k): mask_credentials(v) for k, v in sorted(reply.items())}
    return reply


def check_hostname(hostname: str, *, allow_all: bool = False) -> str | None:
    """The destination for ``hostname``: None for every worker ("*"), else the name itself."""
    if allow_all and hostname == "*":
        return None
    if not HOSTNAME_RE.match(hostname or ""):
        raise Unprocessable(_l("not a worker hostname"), field="hostname")
    return hostname


def worker_status(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    hostname: str,
    *,
    timeout: float,
    max_age: float,
    offline_after: float = ALIVE_WITHIN,
) -> tuple[str, float | None]:
    """(status, last seen) of one worker, from the shared ping cache; NotFound if never seen."""
    ping = inspect_cached(
        client, prefix, celery_app, "ping", timeout=timeout, max_age=max_age, alive_within=offline_after
    )
    seen = last_seen(client, prefix).get(hostname)
    if hostname not in ping.replies and seen is None:
        raise NotFound(
            _l("no worker named %(hostname)s has answered recently", hostname=hostname), field="hostname"
        )
    return status_of(hostname, ping, seen, redis_now(client), offline_after), seen


def worker_detail(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    hostname: str,
    *,
    timeout: float,
    max_age: float,
    offline_after: float = ALIVE_WITHIN,
    kinds: Iterable[str] = DETAIL_KINDS,
) -> WorkerDetail:
    """One worker's sections, each asked of that worker only (cached per worker and kind)."""
    check_hostname(hostname)
    status, seen = worker_status(
        client, prefix, celery_app, hostname, timeout=timeout, max_age=max_age, offline_after=offline_after
    )
    snaps = inspect_many(
        client,
        prefix,
        celery_app,
        kinds,
        timeout=timeout,
        max_age=max_age,
        alive_within=offline_after,
        destination=hostname,
    )
    return WorkerDetail(hostname, status, seen, snaps)
