"""Typed inspect replies of one worker: what its stats, tasks, queues and registered tasks say."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

# "scheme://user:secret@host" -> "scheme://***@host" in configuration shown to operators.
CREDENTIALS_RE = re.compile(r"(\w+://)[^/@\s]+@")


def as_text(value: Any) -> str:
    """A reply value as text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)


def mask_credentials(value: Any) -> str:
    """A configuration value as text, with credentials in URLs masked."""
    return CREDENTIALS_RE.sub(r"\1***@", as_text(value))


def short_pool(implementation: str | None) -> str:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork``."""
    if not implementation:
        return "?"
    module = implementation.split(":", 1)[0]
    return module.rsplit(".", 1)[-1]


def mask_url(broker: Mapping[str, Any]) -> str:
    """The broker a worker reports, without credentials."""
    transport = broker.get("transport") or "?"
    host = broker.get("hostname") or "?"
    port = broker.get("port")
    vhost = broker.get("virtual_host")
    where = f"{host}:{port}" if port else host
    return f"{transport}://{where}/{vhost or ''}"


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
            args=as_text(info.get("args")),
            kwargs=as_text(info.get("kwargs")),
            started_at=info.get("time_start"),
            worker_pid=info.get("worker_pid"),
            queue=delivery.get("routing_key") if isinstance(delivery, dict) else None,
        )

    @classmethod
    def from_scheduled(cls, entry: Mapping[str, Any]) -> TaskInfo:
        task = cls.from_request(entry.get("request") or {})
        return replace(task, eta=entry.get("eta"), priority=entry.get("priority"))


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
