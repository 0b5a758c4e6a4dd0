"""Celery inspect and control, coalesced through a short shared cache in Redis.

However many browser tabs, gunicorn workers or hosts poll, :func:`inspect_cached` sends at most one
inspect broadcast per kind (and target) per ``max_age``: a Redis lock decides who refreshes, the
others serve the previous answer, or wait for the first one at most ``timeout`` plus a little.
No Flask request objects here: background processes may call these functions too.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core.errors import NotFound, Unprocessable
from . import keys

# Inspect kinds the dashboard asks for; anything else is refused.
KINDS = ("ping", "stats", "active", "reserved", "scheduled", "revoked", "registered", "active_queues", "conf")
LIST_KINDS = ("ping", "stats", "active", "active_queues")
DETAIL_KINDS = ("active", "reserved", "scheduled", "revoked", "registered", "active_queues", "stats", "conf")
# Task attributes asked of ``registered`` so rate and time limits set by control show up there.
TASK_INFO_ITEMS = ("rate_limit", "time_limit", "soft_time_limit", "acks_late")
# Extra wait beyond the inspect timeout before a caller gives up on a refresh run by someone else.
WAIT_GRACE = 0.5
# How long a cache entry is kept (and may be served as "previous") after it was taken.
KEEP_SECONDS = 300
# "scheme://user:secret@host" -> "scheme://***@host" in configuration shown to operators.
CREDENTIALS_RE = re.compile(r"(\w+://)[^/@\s]+@")
HOSTNAME_RE = re.compile(r"^[\w.@:+\-]{1,255}$")


# --------------------------------------------------------------------------- inspect snapshots


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


def _now(client: redis.Redis) -> float:
    """Seconds on the Redis clock, so every host compares times on the same clock."""
    seconds, micros = client.time()
    return seconds + micros / 1_000_000


def _broadcast(celery_app: Celery, kind: str, timeout: float, destination: str | None) -> dict[str, Any]:
    """Send one inspect broadcast and return ``{hostname: reply}``."""
    # A connection of its own: parallel broadcasts must not queue on the app's small broker pool.
    with celery_app.connection_for_write() as connection:
        inspector = celery_app.control.inspect(
            timeout=timeout, destination=[destination] if destination else None, connection=connection
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
    destination: str | None = None,
) -> InspectSnapshot:
    """The replies to inspect ``kind`` (all workers, or ``destination`` only), at most ``max_age`` old.

    One caller per cache entry and interval sends the broadcast (decided by a Redis lock); the
    others get the previous answer marked ``stale``, or wait for the first answer up to
    ``timeout`` + ``WAIT_GRACE`` seconds. Raises ``redis.RedisError`` when Redis is unreachable.
    """
    if kind not in KINDS:
        raise Unprocessable(_l("unknown inspect kind '%(kind)s'", kind=kind), field="kind")
    cache_key = keys.inspect_key(prefix, kind, destination)
    lock_key = keys.lock_key(cache_key)
    token = uuid.uuid4().hex
    lock_ms = int((timeout + 10) * 1000)
    verdict, raw, at_ms = keys.script(client, "CLAIM")(
        keys=[cache_key, lock_key, keys.broadcast_counter(prefix, kind)],
        args=[int(max_age * 1000), token, lock_ms],
    )
    verdict = verdict.decode() if isinstance(verdict, bytes) else verdict
    if verdict == "fresh":
        return InspectSnapshot.from_cache(kind, raw, at_ms)
    if verdict == "refresh":
        return _refresh(client, prefix, celery_app, kind, timeout, destination, cache_key, lock_key, token)
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
    lock_key: str,
    token: str,
) -> InspectSnapshot:
    error = None
    try:
        replies = _broadcast(celery_app, kind, timeout, destination)
    except redis.RedisError:
        client.delete(lock_key)  # let the next caller retry once Redis is back
        raise
    except Exception as exc:  # kombu raises transport-specific errors
        replies, error = {}, f"inspect {kind} failed: {type(exc).__name__}: {exc}"
    snapshot = InspectSnapshot(kind, replies, None, timeout, error=error, refreshed=True)
    seen = sorted(replies) if kind == "ping" else []
    at_ms = keys.script(client, "STORE")(
        keys=[cache_key, lock_key, keys.seen_key(prefix)],
        args=[token, snapshot.to_cache(), KEEP_SECONDS * 1000, *seen],
    )
    return replace(snapshot, taken_at=int(at_ms) / 1000)


def inspect_many(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    kinds: Iterable[str],
    *,
    timeout: float,
    max_age: float,
    destination: str | None = None,
) -> dict[str, InspectSnapshot]:
    """Several kinds at once, in parallel, so a page waits for one timeout, not one per kind."""
    kinds = list(kinds)
    with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
        futures = {
            kind: pool.submit(
                inspect_cached,
                client,
                prefix,
                celery_app,
                kind,
                timeout=timeout,
                max_age=max_age,
                destination=destination,
            )
            for kind in kinds
        }
        return {kind: future.result() for kind, future in futures.items()}


def inspect_direct(celery_app: Celery, kind: str, *, timeout: float, destination: str | None = None):
    """One uncached broadcast (what the cache saves); used by the benchmark's baseline."""
    return InspectSnapshot(kind, _broadcast(celery_app, kind, timeout, destination), time.time(), timeout)


def broadcast_count(client: redis.Redis, prefix: str, kind: str) -> int:
    """How many inspect broadcasts of ``kind`` the dashboard has sent (all processes)."""
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


# --------------------------------------------------------------------------- typed replies


def short_pool(implementation: str | None) -> str:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork``."""
    if not implementation:
        return "?"
    module = implementation.split(":", 1)[0]
    return module.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class WorkerInfo:
    """What ``stats`` says about one worker."""

    hostname: str
    pid: int | None
    pool: str
    pool_size: int | None  # max concurrency
    pool_processes: list[int]
    prefetch: int | None
    processed: int
    processed_by_task: dict[str, int]
    uptime: float | None
    cpu_seconds: float | None
    max_memory_kb: int | None
    broker: str | None

    @classmethod
    def from_stats(cls, hostname: str, stats: Mapping[str, Any] | None) -> WorkerInfo:
        stats = stats or {}
        pool = stats.get("pool") or {}
        rusage = stats.get("rusage") if isinstance(stats.get("rusage"), dict) else {}
        total = {str(k): int(v) for k, v in (stats.get("total") or {}).items()}
        broker = stats.get("broker") or {}
        cpu = None
        if rusage.get("utime") is not None:
            cpu = float(rusage.get("utime", 0)) + float(rusage.get("stime", 0))
        processes = pool.get("processes")
        return cls(
            hostname=hostname,
            pid=stats.get("pid"),
            pool=short_pool(pool.get("implementation")),
            pool_size=pool.get("max-concurrency"),
            pool_processes=list(processes) if isinstance(processes, list) else [],
            prefetch=stats.get("prefetch_count"),
            processed=sum(total.values()),
            processed_by_task=total,
            uptime=stats.get("uptime"),
            cpu_seconds=cpu,
            max_memory_kb=rusage.get("maxrss"),
            broker=mask_url(broker) if broker else None,
        )


def mask_url(broker: Mapping[str, Any]) -> str:
    """The broker a worker reports, without credentials."""
    transport = broker.get("transport") or "?"
    host = broker.get("hostname") or "?"
    port = broker.get("port")
    vhost = broker.get("virtual_host")
    where = f"{host}:{port}" if port else host
    return f"{transport}://{where}/{vhost or ''}"


@dataclass(frozen=True)
class TaskInfo:
    """A task a worker holds (active, reserved, or scheduled with an ETA)."""

    id: str
    name: str
    args: str
    kwargs: str
    started_at: float | None = None
    worker_pid: int | None = None
    eta: str | None = None
    priority: int | None = None
    queue: str | None = None

    @classmethod
    def from_request(cls, info: Mapping[str, Any]) -> TaskInfo:
        delivery = info.get("delivery_info") or {}
        return cls(
            id=str(info.get("id") or ""),
            name=str(info.get("name") or "?"),
            args=_repr(info.get("args")),
            kwargs=_repr(info.get("kwargs")),
            started_at=info.get("time_start"),
            worker_pid=info.get("worker_pid"),
            queue=delivery.get("routing_key") if isinstance(delivery, dict) else None,
        )

    @classmethod
    def from_scheduled(cls, entry: Mapping[str, Any]) -> TaskInfo:
        task = cls.from_request(entry.get("request") or {})
        return replace(task, eta=entry.get("eta"), priority=entry.get("priority"))


def _repr(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)


@dataclass(frozen=True)
class QueueInfo:
    """A queue a worker consumes (``active_queues``)."""

    name: str
    exchange: str | None
    routing_key: str | None

    @classmethod
    def from_reply(cls, reply: Mapping[str, Any]) -> QueueInfo:
        exchange = reply.get("exchange") or {}
        return cls(
            name=str(reply.get("name")),
            exchange=exchange.get("name") if isinstance(exchange, dict) else str(exchange),
            routing_key=reply.get("routing_key"),
        )


@dataclass(frozen=True)
class RegisteredTask:
    """A task a worker knows, with the limits it reports (``registered`` with task info items)."""

    name: str
    attributes: dict[str, str]

    @classmethod
    def from_line(cls, line: str) -> RegisteredTask:
        # "tasks.add [rate_limit=10/m time_limit=None]"
        name, _, rest = line.partition(" [")
        attributes = {}
        for part in rest.rstrip("]").split():
            key, sep, value = part.partition("=")
            if sep:
                attributes[key] = value
        return cls(name.strip(), attributes)


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


def last_seen(client: redis.Redis, prefix: str) -> dict[str, float]:
    """Hostname -> epoch seconds of the last ping it answered."""
    raw = client.hgetall(keys.seen_key(prefix))
    return {k.decode(): int(v) / 1000 for k, v in raw.items()}


def status_of(
    hostname: str, ping: InspectSnapshot, seen: float | None, now: float, offline_after: float
) -> str:
    """online: answered the latest ping; unresponsive: missed it but seen lately; offline otherwise."""
    if hostname in ping.replies:
        return "online"
    if seen is not None and now - seen <= offline_after:
        return "unresponsive"
    return "offline"


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
        snaps = inspect_many(client, prefix, celery_app, LIST_KINDS, timeout=timeout, max_age=max_age)
    ping, stats, active, queues = (snaps[k] for k in LIST_KINDS)
    seen = last_seen(client, prefix)
    now = _now(client)
    forgotten = [host for host, at in seen.items() if now - at > forget_after and host not in ping.replies]
    if forgotten:
        client.hdel(keys.seen_key(prefix), *forgotten)
    hosts = (set(seen) - set(forgotten)) | set(ping.replies)
    rows = []
    for host in sorted(hosts):
        status = status_of(host, ping, seen.get(host), now, offline_after)
        host_stats = stats.reply(host)
        host_active = active.reply(host)
        host_queues = queues.reply(host)
        rows.append(
            WorkerRow(
                hostname=host,
                status=status,
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
        return {str(k): CREDENTIALS_RE.sub(r"\1***@", _repr(v)) for k, v in sorted(reply.items())}
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
    offline_after: float,
) -> tuple[str, float | None]:
    """(status, last seen) of one worker, from the shared ping cache; NotFound if never seen."""
    ping = inspect_cached(client, prefix, celery_app, "ping", timeout=timeout, max_age=max_age)
    seen = last_seen(client, prefix).get(hostname)
    if hostname not in ping.replies and seen is None:
        raise NotFound(
            _l("no worker named %(hostname)s has answered recently", hostname=hostname), field="hostname"
        )
    return status_of(hostname, ping, seen, _now(client), offline_after), seen


def worker_detail(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    hostname: str,
    *,
    timeout: float,
    max_age: float,
    offline_after: float,
    kinds: Iterable[str] = DETAIL_KINDS,
) -> WorkerDetail:
    """One worker's sections, each asked of that worker only (cached per worker and kind)."""
    check_hostname(hostname)
    status, seen = worker_status(
        client, prefix, celery_app, hostname, timeout=timeout, max_age=max_age, offline_after=offline_after
    )
    snaps = inspect_many(
        client, prefix, celery_app, kinds, timeout=timeout, max_age=max_age, destination=hostname
    )
    return WorkerDetail(hostname, status, seen, snaps)


# --------------------------------------------------------------------------- control


@dataclass(frozen=True)
class Argument:
    name: str
    type: type
    label: str
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    pattern: str | None = None

    @property
    def input_type(self) -> str:
        return "number" if self.type in (int, float) else "text"

    @property
    def step(self) -> str:
        return "1" if self.type is int else "any"

    def parse(self, raw: Any) -> Any:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            if self.required:
                raise Unprocessable(_l("%(field)s is required", field=self.label), field=self.name)
            return None
        if isinstance(raw, bool):
            raise Unprocessable(_type_message(self.type, self.label), field=self.name)
        try:
            value = self.type(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError):
            raise Unprocessable(_type_message(self.type, self.label), field=self.name) from None
        if self.type is int and isinstance(raw, float) and raw != int(raw):
            raise Unprocessable(_type_message(int, self.label), field=self.name)
        if self.minimum is not None and value < self.minimum:
            raise Unprocessable(
                _l("%(field)s must be at least %(low)s", field=self.label, low=f"{self.minimum:g}"),
                field=self.name,
            )
        if self.maximum is not None and value > self.maximum:
            raise Unprocessable(
                _l("%(field)s must be at most %(high)s", field=self.label, high=f"{self.maximum:g}"),
                field=self.name,
            )
        if self.choices and value not in self.choices:
            raise Unprocessable(
                _l("%(field)s must be one of %(choices)s", field=self.label, choices=", ".join(self.choices)),
                field=self.name,
            )
        if self.type is str and (
            len(value) > 255 or (self.pattern and not re.fullmatch(self.pattern, value))
        ):
            raise Unprocessable(_l("%(field)s is not valid", field=self.label), field=self.name)
        return value


def _type_message(kind: type, label):
    """The refusal "<label> must be a whole number" (or "a number", or "text")."""
    if kind is int:
        return _l("%(field)s must be a whole number", field=label)
    if kind is float:
        return _l("%(field)s must be a number", field=label)
    return _l("%(field)s must be text", field=label)


RATE_PATTERN = r"\d+(\.\d+)?(/[smh])?"
NAME_PATTERN = r"[\w.:\-@/]+"


@dataclass(frozen=True)
class Command:
    """A control command the dashboard may send, with its arguments and who may send it."""

    name: str
    label: str
    role: str
    destructive: bool
    arguments: tuple[Argument, ...] = ()
    invalidates: tuple[str, ...] = ()
    expects_reply: bool = True

    def parse(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        known = {arg.name for arg in self.arguments}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise Unprocessable(
                _l("unknown argument '%(name)s' for %(command)s", name=unknown[0], command=self.name),
                field=unknown[0],
            )
        values = {arg.name: arg.parse(raw.get(arg.name)) for arg in self.arguments}
        if self.name == "autoscale" and values["min"] > values["max"]:
            raise Unprocessable(_l("minimum must not exceed maximum"), field="min")
        if self.name == "time_limit" and values["soft"] is None and values["hard"] is None:
            raise Unprocessable(_l("give a soft or a hard time limit"), field="soft")
        return {k: v for k, v in values.items() if v is not None}


_N = Argument("n", int, _l("Processes"), minimum=1, maximum=64)
_TASK = Argument("task_name", str, _l("Task name"), pattern=NAME_PATTERN)
_QUEUE = Argument("queue", str, _l("Queue"), pattern=NAME_PATTERN)
_TASK_ID = Argument("task_id", str, _l("Task id"), pattern=NAME_PATTERN)

COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "add_consumer",
            _l("Resume queue (add consumer)"),
            "operator",
            False,
            (_QUEUE,),
            ("active_queues",),
        ),
        Command(
            "cancel_consumer",
            _l("Pause queue (cancel consumer)"),
            "operator",
            True,
            (_QUEUE,),
            ("active_queues",),
        ),
        Command(
            "rate_limit",
            _l("Set rate limit"),
            "operator",
            False,
            (_TASK, Argument("rate_limit", str, _l("Rate limit"), pattern=RATE_PATTERN)),
            ("registered",),
        ),
        Command(
            "revoke",
            _l("Revoke task"),
            "operator",
            True,
            (_TASK_ID,),
            ("active", "reserved", "scheduled", "revoked"),
        ),
        Command(
            "terminate",
            _l("Terminate task"),
            "operator",
            True,
            (
                _TASK_ID,
                Argument(
                    "signal", str, _l("Signal"), required=False, choices=("SIGTERM", "SIGKILL", "SIGINT")
                ),
            ),
            ("active", "reserved", "revoked"),
        ),
        Command("pool_grow", _l("Grow pool"), "admin", False, (_N,), ("stats",)),
        Command("pool_shrink", _l("Shrink pool"), "admin", True, (_N,), ("stats",)),
        Command(
            "autoscale",
            _l("Set autoscale"),
            "admin",
            False,
            (
                Argument("max", int, _l("Maximum"), minimum=1, maximum=256),
                Argument("min", int, _l("Minimum"), minimum=0),
            ),
            ("stats",),
        ),
        Command(
            "time_limit",
            _l("Set time limits"),
            "admin",
            False,
            (
                _TASK,
                Argument("soft", float, _l("Soft limit (s)"), required=False, minimum=0),
                Argument("hard", float, _l("Hard limit (s)"), required=False, minimum=0),
            ),
            ("registered",),
        ),
        Command("pool_restart", _l("Restart pool"), "admin", True, (), ("stats", "active")),
        Command("shutdown", _l("Shut down"), "admin", True, (), ("ping", "stats"), expects_reply=False),
    )
}


def require_command(name: str) -> Command:
    command = COMMANDS.get(name)
    if command is None:
        raise Unprocessable(_l("unknown control command '%(name)s'", name=name), field="command")
    return command


@dataclass(frozen=True)
class ControlReply:
    hostname: str
    ok: bool
    message: str

    @classmethod
    def from_reply(cls, hostname: str, reply: Any) -> ControlReply:
        if isinstance(reply, dict) and "ok" in reply:
            return cls(hostname, True, str(reply["ok"]))
        if isinstance(reply, dict) and "error" in reply:
            return cls(hostname, False, str(reply["error"]))
        return cls(hostname, True, _repr(reply))


@dataclass(frozen=True)
class ControlResult:
    command: str
    label: str
    destination: str  # a hostname or "*"
    arguments: dict[str, Any]
    replies: list[ControlReply]
    expects_reply: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def send_control(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    command_name: str,
    raw_arguments: Mapping[str, Any],
    hostname: str,
    *,
    timeout: float,
) -> ControlResult:
    """Validate and send one control command with ``reply=True``; replies by worker."""
    command = require_command(command_name)
    destination = check_hostname(hostname, allow_all=True)
    arguments = command.parse(raw_arguments)
    celery_name, celery_args = command.name, dict(arguments)
    if command.name == "terminate":
        celery_name = "revoke"
        celery_args = {
            "task_id": arguments["task_id"],
            "terminate": True,
            "signal": arguments.get("signal", "SIGTERM"),
        }
    elif command.name == "revoke":
        celery_args = {"task_id": arguments["task_id"], "terminate": False}
    elif command.name == "time_limit":
        celery_args.setdefault("soft", None)
        celery_args.setdefault("hard", None)
    replies = celery_app.control.broadcast(
        celery_name,
        arguments=celery_args,
        destination=[destination] if destination else None,
        reply=command.expects_reply,
        timeout=timeout,
    )
    parsed = []
    for item in replies or []:
        for host, reply in item.items():
            parsed.append(ControlReply.from_reply(host, reply))
    _remember_paused(client, prefix, command.name, arguments, parsed)
    invalidate(client, prefix, command.invalidates, destination)
    return ControlResult(
        command.name,
        str(command.label),
        hostname,
        arguments,
        sorted(parsed, key=lambda r: r.hostname),
        command.expects_reply,
    )


def _remember_paused(
    client: redis.Redis, prefix: str, command: str, arguments: dict[str, Any], replies: list[ControlReply]
) -> None:
    """Note queues paused on a worker so its page can offer to resume them."""
    if command not in ("cancel_consumer", "add_consumer"):
        return
    for reply in replies:
        if not reply.ok:
            continue
        key = keys.paused_key(prefix, reply.hostname)
        if command == "cancel_consumer":
            client.sadd(key, arguments["queue"])
        else:
            client.srem(key, arguments["queue"])


def paused_queues(client: redis.Redis, prefix: str, hostname: str) -> list[str]:
    """Queues paused on ``hostname`` from this dashboard and not resumed since."""
    return sorted(q.decode() for q in client.smembers(keys.paused_key(prefix, hostname)))
