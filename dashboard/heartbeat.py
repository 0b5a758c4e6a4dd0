"""Heartbeats of the dashboard's background processes (dispatcher, recorder, beat), kept in Redis.

Each instance writes its own key with a TTL, so a process that dies simply disappears after the
TTL; the overview lists the instances that are alive.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass

import redis

KINDS = ("dispatcher", "recorder", "beat")


def instance_id() -> str:
    """This process's name in heartbeats: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _key(prefix: str, kind: str, instance: str) -> str:
    return f"{prefix}heartbeat:{kind}:{instance}"


@dataclass(frozen=True)
class Heartbeat:
    kind: str
    instance: str
    at: float
    info: dict

    @property
    def age(self) -> float:
        return max(0.0, time.time() - self.at)


def beat(
    client: redis.Redis,
    prefix: str,
    kind: str,
    *,
    ttl: float,
    info: dict | None = None,
    instance: str | None = None,
) -> None:
    """Record that ``kind`` (this instance) is alive for the next ``ttl`` seconds."""
    if kind not in KINDS:
        raise ValueError(f"unknown process kind {kind!r}")
    payload = json.dumps({"at": time.time(), "info": info or {}})
    client.set(_key(prefix, kind, instance or instance_id()), payload, px=int(ttl * 1000))


def stop(client: redis.Redis, prefix: str, kind: str, instance: str | None = None) -> None:
    """Remove this instance's heartbeat at a clean shutdown."""
    client.delete(_key(prefix, kind, instance or instance_id()))


def alive(client: redis.Redis, prefix: str, kind: str) -> list[Heartbeat]:
    """The instances of ``kind`` whose heartbeat has not expired, newest first."""
    pattern = _key(prefix, kind, "*")
    keys = list(client.scan_iter(match=pattern, count=100))
    beats = []
    for key, raw in zip(keys, client.mget(keys) if keys else [], strict=True):
        if raw is None:
            continue
        data = json.loads(raw)
        instance = key.decode().rsplit(f"heartbeat:{kind}:", 1)[1]
        beats.append(Heartbeat(kind, instance, float(data["at"]), data.get("info") or {}))
    return sorted(beats, key=lambda b: b.at, reverse=True)
