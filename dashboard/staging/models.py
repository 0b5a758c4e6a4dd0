"""Typed shapes of what crosses the staging boundary: an item, the dispatcher policy, a snapshot.

An item and the policy are shared with other areas (they add to the list), so they live in
:mod:`dashboard.core.staging` and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.staging import OPTION_NAMES, Policy, StagingItem
from ..core.staging import POLICY_STATES as STATES

__all__ = ["OPTION_NAMES", "STATES", "Policy", "ReleaseOutcome", "Snapshot", "StagingItem"]


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
