"""Typed shapes of what crosses the staging boundary: an item, the dispatcher policy, a snapshot."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

OPTION_NAMES = ("queue", "priority", "countdown", "eta", "expires")
STATES = ("running", "paused")


@dataclass(frozen=True)
class StagingItem:
    """One piece of work held back from Celery. ``id`` becomes the Celery task id."""

    id: str
    task: str
    args: list
    kwargs: dict
    options: dict = field(default_factory=dict)
    staged_by: str = ""
    staged_at: str = ""
    note: str = ""

    @classmethod
    def from_json(cls, item_id: str, raw: str | bytes) -> StagingItem:
        data = json.loads(raw)
        return cls(
            id=item_id,
            task=data.get("task", ""),
            args=list(data.get("args") or []),
            kwargs=dict(data.get("kwargs") or {}),
            options={k: v for k, v in (data.get("options") or {}).items() if k in OPTION_NAMES},
            staged_by=data.get("staged_by") or "",
            staged_at=data.get("staged_at") or "",
            note=data.get("note") or "",
        )

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("id")
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def queue(self) -> str | None:
        return self.options.get("queue")


@dataclass(frozen=True)
class Policy:
    """How the dispatcher releases: running or paused, low-water mark, maximum releases/second."""

    state: str = "running"
    low_water: int = 1
    max_rate: float = 0.0  # releases per second over all dispatchers; 0 = no limit

    @classmethod
    def from_hash(cls, raw: dict) -> Policy:
        data = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        default = cls()
        state = data.get("state", default.state)
        try:
            low_water = int(data.get("low_water", default.low_water))
        except ValueError:
            low_water = default.low_water
        try:
            max_rate = float(data.get("max_rate", default.max_rate))
        except ValueError:
            max_rate = default.max_rate
        return cls(state=state if state in STATES else default.state, low_water=low_water, max_rate=max_rate)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def rate_interval_ms(self) -> int:
        return int(1000 / self.max_rate) if self.max_rate > 0 else 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Snapshot:
    """The list as one read saw it: items head first, the version and the total count."""

    items: list[StagingItem]
    version: int
    total: int

    def to_dict(self) -> dict:
        return {"version": self.version, "total": self.total, "items": [i.to_dict() for i in self.items]}


@dataclass(frozen=True)
class ReleaseOutcome:
    """What one release attempt did: ``released`` or why not (gone, not-head, busy, rate, empty)."""

    item_id: str | None
    released: bool
    reason: str = ""
    version: int | None = None
    item: StagingItem | None = None
    queue: str | None = None
