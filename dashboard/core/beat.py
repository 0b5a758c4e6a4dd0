"""Beat as the other parts see it: the leadership lock's key and holder, and each beat's heartbeat.

The schedules area runs beat; the overview, ``/metrics`` and the schedules page report on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from .. import heartbeat
from . import lock


def beat_lock_key(prefix: str) -> str:
    """Held by the one beat allowed to fire; its value is the holder's instance id."""
    return f"{prefix}schedules:beat-lock"


def beat_lock(client: redis.Redis, prefix: str, instance: str, ttl_seconds: float) -> lock.LeaderLock:
    """The beat leadership lock for ``instance``."""
    return lock.LeaderLock(client, beat_lock_key(prefix), instance, ttl_seconds)


@dataclass(frozen=True)
class BeatInstance:
    instance: str
    at: datetime
    role: str
    schedules: int | None
    unconfirmed: int = 0  # runs claimed and not yet accepted by the broker (beat's outbox)


@dataclass(frozen=True)
class BeatStatus:
    """Who holds the beat lock and when each beat instance last ticked."""

    holder: str | None
    lock_ttl_ms: int | None
    instances: list[BeatInstance]

    @property
    def unconfirmed(self) -> int:
        """Claimed runs the active beat could not hand to the broker yet (0 when all went)."""
        return max((i.unconfirmed for i in self.instances if i.instance == self.holder), default=0)

    @property
    def last_tick(self) -> datetime | None:
        ticks = [i.at for i in self.instances if i.instance == self.holder] or [i.at for i in self.instances]
        return max(ticks) if ticks else None

    def to_json(self) -> dict:
        return {
            "holder": self.holder,
            "lock_ttl_ms": self.lock_ttl_ms,
            "last_tick": self.last_tick.isoformat() if self.last_tick else None,
            "unconfirmed": self.unconfirmed,
            "instances": [
                {"instance": i.instance, "at": i.at.isoformat(), "role": i.role, "schedules": i.schedules}
                for i in self.instances
            ],
        }


def beat_status(client: redis.Redis, prefix: str) -> BeatStatus:
    """The lock holder and the beat heartbeats (for the overview's beat tile)."""
    owner, ttl = lock.holder(client, beat_lock_key(prefix))
    instances = [
        BeatInstance(
            beat.instance,
            datetime.fromtimestamp(beat.at, UTC),
            str(beat.info.get("role", "unknown")),
            beat.info.get("schedules"),
            int(beat.info.get("unconfirmed") or 0),
        )
        for beat in heartbeat.alive(client, prefix, "beat")
    ]
    return BeatStatus(owner, ttl if ttl and ttl > 0 else None, instances)
