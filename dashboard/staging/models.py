"""Typed shapes of what crosses the staging boundary: an item, the dispatcher policy, a snapshot.

An item and the policy are shared with other areas (they add to the list), so they live in
:mod:`dashboard.core.staging` and are re-exported here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..core.errors import DashboardError
from ..core.json_text import decode_bounded
from ..core.staging import OPTION_NAMES, Policy, StagingItem
from ..core.staging import POLICY_STATES as STATES

__all__ = ["OPTION_NAMES", "STATES", "HeldItem", "Policy", "ReleaseOutcome", "Snapshot", "StagingItem"]

SHOWN_DATA = 500  # characters of a held item's data shown (it may be anything: that is why it is held)


@dataclass(frozen=True)
class HeldItem:
    """An item the dispatcher set aside, with why and when; its data as it was staged."""

    id: str
    task: str
    reason: str
    held_at: str
    data: str  # the item JSON, cut to SHOWN_DATA characters

    @classmethod
    def from_record(cls, item_id: str, raw: str | bytes) -> HeldItem:
        """From a value of the ``held`` hash (written by ``service.hold``; its item may be anything)."""
        record = json.loads(raw)
        data = record.get("item") or ""
        try:
            task = decode_bounded(data, "item").get("task")
        except (DashboardError, ValueError, AttributeError):  # its data may be what made it poison
            task = None
        return cls(
            id=item_id,
            task=task if isinstance(task, str) else "",
            reason=str(record.get("reason") or ""),
            held_at=str(record.get("held_at") or ""),
            data=data[:SHOWN_DATA],
        )

    def to_dict(self) -> dict:
        return {"id": self.id, "task": self.task, "reason": self.reason, "held_at": self.held_at}


@dataclass(frozen=True)
class Snapshot:
    """The list as one read saw it: items head first, the version and the total count."""

    items: list[StagingItem]
    version: int
    total: int
    held: list[HeldItem] = field(default_factory=list)  # oldest first

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "total": self.total,
            "items": [i.to_dict() for i in self.items],
            "held": [h.to_dict() for h in self.held],
        }


@dataclass(frozen=True)
class ReleaseOutcome:
    """What one release attempt did: ``released`` or why not (gone, not-head, busy, rate, empty,
    held); ``held`` lists the poison items set aside on the way."""

    item_id: str | None
    released: bool
    reason: str = ""
    version: int | None = None
    item: StagingItem | None = None
    queue: str | None = None
    held: tuple[str, ...] = ()
