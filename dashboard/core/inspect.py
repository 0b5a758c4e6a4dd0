"""Celery inspect, coalesced through a short shared cache in Redis, for every area.

However many browser tabs, gunicorn workers or hosts poll, :func:`inspect_cached` sends at most one
inspect broadcast per kind (and target) per ``max_age``: a Redis lock decides who refreshes, the
others serve the previous answer, or wait for the first one at most ``timeout`` plus a little.

A broadcast to all workers stops waiting as soon as every worker seen alive lately has answered
(Celery's ``limit``), so a refresh costs one round trip, not the whole ``timeout``. Workers nobody
has seen yet are found by a discovery ping that waits the full timeout: in the request itself when
no worker is known at all, otherwise in the background, at most once per ``discover_every``
seconds across every process (see docs/workers.md).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from . import inspect_keys as keys
from .errors import Unprocessable

# Inspect kinds the dashboard asks for; anything else is refused.
KINDS = ("ping", "stats", "active", "reserved", "scheduled", "revoked", "registered", "active_queues", "conf")
# Task attributes asked of ``registered`` so rate and time limits set by control show up there.
TASK_INFO_ITEMS = ("rate_limit", "time_limit", "soft_time_limit", "acks_late")
# Extra wait beyond the inspect timeout before a caller gives up on a refresh run by someone else.
WAIT_GRACE = 0.5
# How long a cache entry is kept (and may be served as "previous") after it was taken.
KEEP_SECONDS = 300
# Defaults of WORKERS_OFFLINE_AFTER (a worker answering within it is waited for) and of the
# interval between discovery pings, for callers that do not pass them.
ALIVE_WITHIN = 60.0
DISCOVER_EVERY = 30.0


def inspect_limits(config: Mapping[str, Any]) -> dict[str, float]:
    """``timeout``, ``max_age`` and ``alive_within`` from the app's configuration, as callers pass them."""
    return {
        "timeout": float(config["INSPECT_TIMEOUT"]),
        "max_age": float(config["WORKERS_CACHE_SECONDS"]),
        "alive_within": float(config["WORKERS_OFFLINE_AFTER"]),
    }


@dataclass(frozen=True)
class InspectSnapshot:
    """One inspect broadcast's replies by hostname, as served from the shared cache."""

    kind: str
    replies: dict[str, Any]
    taken_at: float | None  # epoch seconds (Redis clock); None when nothing has answered yet
    timeout: float
    error: str | None = None
    stale: bool = False  # served while a refresh by another caller is under way
    refreshed: bool = False  # this call sent the broadcast
    waited_for: int | None = None  # replies the refresh waited for; None: the full timeout

    @classmethod
    def from_cache(cls, kind: str, raw: bytes | str, at_ms: bytes | str | None) -> InspectSnapshot:
        data = json.loads(raw)
        taken = float(at_ms) / 1000 if at_ms is not None else data.get("taken_at")
        return cls(kind, data.get("replies") or {}, taken, float(data.get("timeout", 0)), data.get("error"))

    @classmethod
    def pending(cls, kind: str, timeout: float) -> InspectSnapshot:
        return cls(kind, {}, None, timeout, error=None, stale=True)

    def to_cache(self) -> str:
        return json.dumps(
            {"replies": self.replies, "timeout": self.timeout, "error": self.error}, default=repr
        )

    def reply(self, hostname: str, default: Any = None) -> Any:
        return self.replies.get(hostname, default)

    @property
    def hostnames(self) -> list[str]:
        return sorted(self.replies)


def redis_now(client: redis.Redis) -> float:
    """Seconds on the Redis clock, so every host compares times on the same clock."""
    seconds, micros = client.time()
    return seconds + micros / 1_000_000


def _broadcast(
    celery_app: Celery, kind: str, timeout: float, destination: str | None, limit: int | None = None
) -> dict[str, Any]:
    """Send one inspect broadcast and return ``{hostname: reply}``, after ``limit`` replies or ``timeout``."""
    # A connection of its own: parallel broadcasts must not queue on the app's small broker pool.
    with celery_app.connection_for_write() as connection:
        inspector = celery_app.control.inspect(
            timeout=timeout,
            destination=[destination] if destination else None,
            connection=connection,
            limit=limit,
        )
        if kind == "registered":
            replies = inspector.registered(*TASK_INFO_ITEMS)
        elif kind == "conf":
            replies = inspector.conf(with_defaults=False)
        else:
            replies = getattr(inspector, kind)()
    return dict(replies or {})


def inspect_cached(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    kind: str,
    *,
    timeout: float,
    max_age: float,
    alive_within: float = ALIVE_WITHIN,
    discover_every: float = DISCOVER_EVERY,
    destination: str | None = None,
) -> InspectSnapshot:
    """The replies to inspect ``kind`` (all workers, or ``destination`` only), at most ``max_age`` old.

    One caller per cache entry and interval sends the broadcast (decided by a Redis lock); the
    others get the previous answer marked ``stale``, or wait for the first answer up to
    ``timeout`` + ``WAIT_GRACE`` seconds. The broadcast waits for as many replies as workers
    answered within ``alive_within`` seconds (the full ``timeout`` when none did). Raises
    ``redis.RedisError`` when Redis is unreachable.
    """
    if kind not in KINDS:
        raise Unprocessable(_l("unknown inspect kind '%(kind)s'", kind=kind), field="kind")
    cache_key = keys.inspect_key(prefix, kind, destination)
    lock_key = keys.lock_key(cache_key)
    token = uuid.uuid4().hex
    verdict, raw, at_ms, alive, discover = keys.CLAIM(
        client,
        keys=[
            cache_key,
            lock_key,
            keys.broadcast_counter(prefix, kind),
            keys.seen_key(prefix),
            keys.discover_key(prefix),
            keys.broadcast_counter(prefix, keys.DISCOVER),
        ],
        args=[
            int(max_age * 1000),
            token,
            int((timeout + 10) * 1000),
            int(alive_within * 1000),
            max(1, int(discover_every * 1000)),
            0 if destination else 1,
        ],
    )
    verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
    if verdict == "fresh":
        return InspectSnapshot.from_cache(kind, raw, at_ms)
    if verdict == "refresh":
        if discover:
            _discover_in_background(client, prefix, celery_app, timeout, alive_within)
        # One worker (destination) or the live ones; kombu already stops after a destination's reply.
        limit = None if destination else int(alive) or None
        return _refresh(client, prefix, celery_app, kind, timeout, destination, cache_key, token, limit)
    if raw:
        return replace(InspectSnapshot.from_cache(kind, raw, at_ms), stale=True)
    # Nobody has an answer yet: wait for the refresher, but never longer than it may take.
    deadline = time.monotonic() + timeout + WAIT_GRACE
    while time.monotonic() < deadline:
        time.sleep(0.05)
        raw, at_ms = client.hmget(cache_key, ["data", "at_ms"])
        if raw:
            return InspectSnapshot.from_cache(kind, raw, at_ms)
    return InspectSnapshot.pending(kind, timeout)


def _refresh(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    kind: str,
    timeout: float,
    destination: str | None,
    cache_key: str,
    token: str,
    limit: int | None,
) -> InspectSnapshot:
    lock_key = keys.lock_key(cache_key)
    error = None
    try:
        replies = _broadcast(celery_app, kind, timeout, destination, limit)
    except redis.RedisError:
        client.delete(lock_key)  # let the next caller retry once Redis is back
        raise
    except Exception as exc:  # kombu raises transport-specific errors
        replies, error = {}, f"inspect {kind} failed: {type(exc).__name__}: {exc}"
    snapshot = InspectSnapshot(kind, replies, None, timeout, error=error, refreshed=True, waited_for=limit)
    # Any answer proves the worker alive, so every kind keeps the last-seen times current.
    at_ms = keys.STORE(
        client,
        keys=[cache_key, lock_key, keys.seen_key(prefix)],
        args=[token, snapshot.to_cache(), KEEP_SECONDS * 1000, *sorted(replies)],
    )
    return replace(snapshot, taken_at=int(at_ms) / 1000)


def _discover_in_background(
    client: redis.Redis, prefix: str, celery_app: Celery, timeout: float, alive_within: float
) -> threading.Thread:
    """Ping every worker for the full ``timeout`` without holding up the caller's page."""
    thread = threading.Thread(
        target=discover,
        args=(client, prefix, celery_app),
        kwargs={"timeout": timeout, "alive_within": alive_within},
        name="taskdeck-inspect-discover",
        daemon=True,  # a process that exits mid-ping only delays discovery to the next interval
    )
    thread.start()
    return thread


def discover(
    client: redis.Redis, prefix: str, celery_app: Celery, *, timeout: float, alive_within: float
) -> list[str]:
    """One ping waiting the full ``timeout``; records who answered and returns the hostnames.

    When a worker answered that was not known alive, the cached answers for all workers are
    dropped, so the next poll asks again and waits for the newcomer's reply too.
    """
    try:
        replies = _broadcast(celery_app, "ping", timeout, None)
    except Exception:  # kombu's transport errors: the next interval tries again
        return []
    hosts = sorted(replies)
    if hosts and keys.SEEN(client, keys=[keys.seen_key(prefix)], args=[int(alive_within * 1000), *hosts]):
        client.delete(*(keys.inspect_key(prefix, kind) for kind in KINDS))
    return hosts


def inspect_many(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    kinds: Iterable[str],
    *,
    timeout: float,
    max_age: float,
    alive_within: float = ALIVE_WITHIN,
    discover_every: float = DISCOVER_EVERY,
    destination: str | None = None,
) -> dict[str, InspectSnapshot]:
    """Several kinds at once, in parallel, so a page waits for one broadcast, not one per kind."""
    kinds = list(kinds)
    options = {
        "timeout": timeout,
        "max_age": max_age,
        "alive_within": alive_within,
        "discover_every": discover_every,
        "destination": destination,
    }
    with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
        futures = {
            kind: pool.submit(inspect_cached, client, prefix, celery_app, kind, **options) for kind in kinds
        }
        return {kind: future.result() for kind, future in futures.items()}


def inspect_direct(
    celery_app: Celery, kind: str, *, timeout: float, destination: str | None = None
) -> InspectSnapshot:
    """One uncached broadcast waiting the full timeout (what the cache saves); the benchmark's baseline."""
    return InspectSnapshot(kind, _broadcast(celery_app, kind, timeout, destination), time.time(), timeout)


def broadcast_count(client: redis.Redis, prefix: str, kind: str) -> int:
    """How many inspect broadcasts of ``kind`` (or discovery pings, ``"discover"``) have been sent."""
    return int(client.get(keys.broadcast_counter(prefix, kind)) or 0)


def invalidate(client: redis.Redis, prefix: str, kinds: Iterable[str], hostname: str | None) -> None:
    """Forget cached replies of ``kinds`` (for one host, or every entry) so the next poll asks again."""
    doomed: list[str] = []
    for kind in kinds:
        doomed.append(keys.inspect_key(prefix, kind))
        if hostname:
            doomed.append(keys.inspect_key(prefix, kind, hostname))
        else:
            pattern = keys.inspect_key(prefix, kind, "*")
            doomed.extend(k for k in client.scan_iter(match=pattern, count=200) if not k.endswith(b":lock"))
    if doomed:
        client.delete(*doomed)


# --------------------------------------------------------------------------- who is alive


def last_seen(client: redis.Redis, prefix: str) -> dict[str, float]:
    """Hostname -> epoch seconds (Redis clock) of the last inspect it answered."""
    raw = client.hgetall(keys.seen_key(prefix))
    return {k.decode(): int(v) / 1000 for k, v in raw.items()}


def forget(client: redis.Redis, prefix: str, hostnames: Iterable[str]) -> None:
    """Drop the last-seen times of ``hostnames`` (workers gone for good)."""
    hostnames = list(hostnames)
    if hostnames:
        client.hdel(keys.seen_key(prefix), *hostnames)


def status_of(
    hostname: str, ping: InspectSnapshot, seen: float | None, now: float, offline_after: float
) -> str:
    """online: answered the latest ping; unresponsive: missed it but seen lately; offline otherwise."""
    if hostname in ping.replies:
        return "online"
    if seen is not None and now - seen <= offline_after:
        return "unresponsive"
    return "offline"


@dataclass(frozen=True)
class Presence:
    """Which workers answer the latest ping and which were seen lately but did not."""

    answering: list[str]
    unresponsive: list[str]
    taken_at: float | None  # None: no ping answer has been collected yet
    timeout: float
    error: str | None = None

    @property
    def pending(self) -> bool:
        return self.taken_at is None


def worker_presence(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    *,
    timeout: float,
    max_age: float,
    alive_within: float = ALIVE_WITHIN,
    discover_every: float = DISCOVER_EVERY,
) -> Presence:
    """Workers online and unresponsive, from the shared ping cache and the last-seen times."""
    ping = inspect_cached(
        client,
        prefix,
        celery_app,
        "ping",
        timeout=timeout,
        max_age=max_age,
        alive_within=alive_within,
        discover_every=discover_every,
    )
    now = redis_now(client)
    missing = sorted(
        host
        for host, at in last_seen(client, prefix).items()
        if status_of(host, ping, at, now, alive_within) == "unresponsive"
    )
    return Presence(ping.hostnames, missing, ping.taken_at, timeout, ping.error)
