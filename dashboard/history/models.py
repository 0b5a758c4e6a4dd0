"""One row per Celery task id, from the first time the dashboard hears of it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import utcnow

STATES = ("PENDING", "RECEIVED", "STARTED", "PROGRESS", "RETRY", "SUCCESS", "FAILURE", "REVOKED")
ORIGINS = ("operator", "schedule", "staging", "other")


class TaskRun(db.Model):
    __tablename__ = "task_runs"

    # ``seq`` orders rows newest first for keyset paging; ``task_id`` is the Celery id.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="PENDING")
    progress: Mapped[dict | None] = mapped_column(JSON)
    args: Mapped[str | None] = mapped_column(Text)
    kwargs: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str | None] = mapped_column(Text)
    exception: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(255))
    queue: Mapped[str | None] = mapped_column(String(255))
    retries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    runtime: Mapped[float | None] = mapped_column(Float)
    parent_id: Mapped[str | None] = mapped_column(String(64))
    root_id: Mapped[str | None] = mapped_column(String(64))
    retry_of: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16), nullable=False, default="other")
    origin_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )

    __table_args__ = (
        Index("ix_task_runs_state_seq", "state", "seq"),
        Index("ix_task_runs_name_seq", "name", "seq"),
        Index("ix_task_runs_origin_seq", "origin", "origin_ref", "seq"),
        Index("ix_task_runs_created_at", "created_at"),
        Index("ix_task_runs_parent_id", "parent_id"),
        Index("ix_task_runs_root_id", "root_id"),
        Index("ix_task_runs_retry_of", "retry_of"),
    )
