"""Schedules in SQL, and the one-row version counter every change bumps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import utcnow


class Schedule(db.Model):
    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    task: Mapped[str] = mapped_column(String(255), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # once | interval | cron
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # once, UTC
    interval_every: Mapped[int | None] = mapped_column(Integer)
    interval_unit: Mapped[str | None] = mapped_column(String(16))
    cron: Mapped[str | None] = mapped_column(String(120))
    args: Mapped[str] = mapped_column(Text, nullable=False, default="[]")  # JSON list
    kwargs: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # JSON object
    queue: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[int | None] = mapped_column(Integer)
    expires_seconds: Mapped[int | None] = mapped_column(Integer)  # message TTL
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    # Run state, written by beat (and trigger-now) without bumping the version counter.
    anchor_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # interval grid origin
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_task_id: Mapped[str | None] = mapped_column(String(64))
    total_run_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    missed_run_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_missed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The version counter's value when this row's definition last changed: beat reloads only
    # rows newer than the version it holds.
    changed_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_schedules_changed_version", "changed_version"),
        Index("ix_schedules_task", "task"),
        Index("ix_schedules_enabled_next_run_at", "enabled", "next_run_at"),
    )


class ScheduleVersion(db.Model):
    """A single row (id 1): bumped in the same transaction as every schedule change."""

    __tablename__ = "schedule_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ScheduleFire(db.Model):
    """A run beat has claimed and not yet seen the broker accept: the outbox of beat.

    Written in the transaction that claims the due time, deleted once the broker holds the
    message. The active beat re-publishes whatever it finds here under the same task id, so a
    beat killed between claiming and publishing loses nothing.
    """

    __tablename__ = "schedule_fires"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    schedule_id: Mapped[int] = mapped_column(Integer, nullable=False)
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The fencing number of the beat lock hold that claimed it.
    fence: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str] = mapped_column(Text, nullable=False)  # JSON: see firing.fire_message

    __table_args__ = (Index("ix_schedule_fires_claimed_at", "claimed_at"),)
