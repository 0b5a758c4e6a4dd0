"""Beat's outbox: runs claimed in SQL and not yet confirmed at the broker, published once.

A fired claim writes a :class:`~.models.ScheduleFire` row in the claiming transaction
(:func:`~.firing.claim_due_runs`). Beat then publishes the batch through
:func:`dashboard.core.publish.publish_once`, which pushes a task id at most once (a marker per
task id in the broker's Redis) and, when the broker is the dashboard's Redis, checks the beat
lock's fencing number and pushes the history's origin entries in the same script. Only then are
the rows deleted, in one statement per batch. Whatever a killed or paused beat left here, the
active beat publishes again under the same task ids before it fires anything new.
"""

from __future__ import annotations

import time

import redis
from celery import Celery
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..core import origins
from ..core.dispatch import Outgoing
from ..core.lock import LeaderLock
from ..core.publish import Fence, publish_once
from .models import ScheduleFire


def pending(session: Session, limit: int) -> list[ScheduleFire]:
    """Claimed runs not yet confirmed at the broker, oldest claim first."""
    query = select(ScheduleFire).order_by(ScheduleFire.claimed_at, ScheduleFire.task_id).limit(limit)
    return list(session.scalars(query))


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return session.execute(select(func.count()).select_from(ScheduleFire)).scalar_one()


def confirm(session: Session, task_ids: list[str]) -> None:
    """The broker holds these runs: drop them from the outbox (one statement, one commit)."""
    session.execute(delete(ScheduleFire).where(ScheduleFire.task_id.in_(task_ids)))
    session.commit()


class Sender:
    """Publishes claimed runs for one beat: once per task id, fenced by the beat lock."""

    def __init__(
        self, celery_app: Celery, client: redis.Redis, prefix: str, lock: LeaderLock, same_server: bool
    ):
        self.celery_app = celery_app
        self.client = client
        self.prefix = prefix
        self.lock = lock
        self.same_server = same_server

    def send(self, session: Session, messages: list[Outgoing]) -> int:
        """Publish ``messages`` and confirm them; returns how many were pushed now (the rest had
        been pushed before a crash). Raises ``Fenced`` when the lock was lost, and the broker's
        error when it cannot be reached: the runs then stay in the outbox."""
        sent_at = time.time()
        entries = [origins.entry(m, m.queue(self.celery_app), sent_at) for m in messages]
        fence = Fence(self.lock.key, self.lock.fence_key, self.lock.owner, self.lock.fence)
        pushed = publish_once(
            self.celery_app,
            self.client,
            self.prefix,
            messages,
            fence=fence,
            still_held=self.lock.held,
            same_server=self.same_server,
            origin_entries=entries,
        )
        if not self.same_server:
            kept = [entry for entry, flag in zip(entries, pushed, strict=True) if flag is not None]
            origins.push(self.client, self.prefix, kept)  # the fold is idempotent
        confirm(session, [m.task_id for m in messages])  # a message that cannot be built is dropped
        return sum(1 for flag in pushed if flag)
