"""The run record: one row per Celery task id, shared by every area that sends or shows runs.

The history area fills it from task events; whoever sends a task notes where it came from, either
here at once (``record_sent``) or as an origin entry in Redis (``core.origins``) that the recorder
folds in batches (``record_origins``): both are the same upsert, which never touches the state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, DateTime, Float, Index, Integer, String, Text, func, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import db
from ..timeutil import utcnow

if TYPE_CHECKING:
    from .origins import OriginEntry

STATES = (
    "PENDING", "RECEIVED", "STARTED", "PROGRESS", "RETRY",
    "SUCCESS", "FAILURE", "REVOKED", "DISCARDED", "LOST",
)  # fmt: skip
# A message deleted or purged from its queue before a worker took it: final, with who and why.
DISCARDED = "DISCARDED"
DISCARD_BATCH = 500
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
    # The group (or chord header) the run belongs to, as its result-backend record names it.
    group_id: Mapped[str | None] = mapped_column(String(64))
    # A FAILURE run's group: its exception's type and message pattern (dashboard.history.errors).
    error_group: Mapped[str | None] = mapped_column(String(16))
    # Every attempt's news, bounded (dashboard.history.timeline).
    timeline: Mapped[dict | None] = mapped_column(JSON)
    origin: Mapped[str] = mapped_column(String(16), nullable=False, default="other")
    origin_ref: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow, nullable=False
    )

    @property
    def progress_meta(self) -> object:
        """What the task reported with its PROGRESS state (``update_state(meta=...)``), as stored."""
        return self.progress.get("meta") if isinstance(self.progress, dict) else self.progress

    @property
    def progress_percent(self) -> int | None:
        """0-100 for a run reporting ``current``/``total`` progress; None when it reports none."""
        return progress_percent(self.progress_meta)

    @property
    def attempts(self) -> int:
        """How many times the run was tried: Celery keeps one id through its retries."""
        return (self.retries or 0) + 1

    __table_args__ = (
        Index("ix_task_runs_state_seq", "state", "seq"),
        Index("ix_task_runs_name_seq", "name", "seq"),
        Index("ix_task_runs_origin_seq", "origin", "origin_ref", "seq"),
        Index("ix_task_runs_created_at", "created_at"),
        Index("ix_task_runs_parent_id", "parent_id"),
        Index("ix_task_runs_root_id", "root_id"),
        Index("ix_task_runs_retry_of", "retry_of"),
        Index("ix_task_runs_group_id", "group_id"),
        Index("ix_task_runs_error_group_seq", "error_group", "seq"),
        # The errors page's whole read, failures only (only FAILURE runs have an error group).
        Index(
            "ix_task_runs_failures",
            "seq",
            "error_group",
            "name",
            "created_at",
            sqlite_where=text("error_group IS NOT NULL"),
            postgresql_where=text("error_group IS NOT NULL"),
        ),
    )


def progress_percent(meta: object) -> int | None:
    """0-100 for progress ``meta`` with ``current``/``total``; None when it reports none.

    The values come from the task's own ``update_state(meta=...)``: anything that is not two
    finite numbers with a positive total gives None rather than an error on the page.
    """
    if not isinstance(meta, dict):
        return None
    try:
        current, total = float(meta["current"]), float(meta["total"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(current) and math.isfinite(total)) or total <= 0:
        return None
    return int(max(0.0, min(100.0, 100.0 * current / total)))


def dialect_insert(session: Session):
    name = session.get_bind().dialect.name
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {name!r}")
    return insert


def _sent_upsert(session: Session):
    """One upsert for runs the dashboard sent: the sender's columns, never the run's state.

    A new row starts PENDING; on an existing one (the recorder may have inserted it from events
    first, or an earlier write of the same send) only name, args/kwargs, queue and the origin
    columns are set (a value the sender lacks keeps the stored one), and ``sent_at`` is kept.
    """
    statement = dialect_insert(session)(TaskRun.__table__)  # Core: one statement for many rows
    excluded = statement.excluded
    stored = TaskRun.__table__.c
    return statement.on_conflict_do_update(
        index_elements=["task_id"],
        set_={
            **{name: coalesce(excluded[name], stored[name]) for name in ("name", "args", "kwargs", "queue")},
            "origin": excluded.origin,
            "origin_ref": excluded.origin_ref,
            "retry_of": excluded.retry_of,
            "sent_at": coalesce(stored.sent_at, excluded.sent_at),
            "updated_at": excluded.updated_at,
        },
    )


def _sent_row(task_id, name, args, kwargs, queue, origin, origin_ref, retry_of, sent_at, now) -> dict:
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    return {
        "task_id": task_id,
        "name": name,
        "args": args,
        "kwargs": kwargs,
        "queue": queue,
        "origin": origin,
        "origin_ref": origin_ref,
        "retry_of": retry_of,
        "state": "PENDING",
        "retries": 0,
        "sent_at": sent_at,
        "created_at": now,
        "updated_at": now,
    }


def record_sent(
    session: Session,
    *,
    task_id: str,
    name: str,
    args: str | None,
    kwargs: str | None,
    queue: str | None,
    origin: str,
    origin_ref: str | None = None,
    retry_of: str | None = None,
) -> TaskRun:
    """Note a run the dashboard itself sent, with where it came from (before events arrive).

    One upsert keyed by task id: the recorder may insert the same id at the same moment, and
    neither write loses the other's columns (this one never touches the run's state).
    """
    now = utcnow()
    row = _sent_row(task_id, name, args, kwargs, queue, origin, origin_ref, retry_of, now, now)
    session.connection().execute(_sent_upsert(session), [row])
    session.commit()
    return session.execute(
        select(TaskRun).where(TaskRun.task_id == task_id).execution_options(populate_existing=True)
    ).scalar_one()


def record_origins(session: Session, entries: Iterable[OriginEntry]) -> int:
    """Note many sent runs from their origin entries (``core.origins``): one statement, one commit.

    The same upsert as ``record_sent``, so folding an entry twice (a crash before it was removed
    from Redis) writes the same row again; returns how many runs were written.
    """
    now = utcnow()
    rows: dict[str, dict] = {}
    for e in entries:  # an id sent twice (staged again under its id): the later send wins
        rows.pop(e.task_id, None)
        rows[e.task_id] = _sent_row(
            e.task_id, e.name, e.args, e.kwargs, e.queue, e.origin, e.origin_ref, e.retry_of, e.sent_time, now
        )
    if not rows:
        return 0
    session.connection().execute(_sent_upsert(session), list(rows.values()))
    session.commit()
    return len(rows)


def discard(session: Session, messages: Iterable[tuple[str, str | None, str | None]], reason: str) -> int:
    """Mark the runs of these removed messages ``(task id, task name, queue)`` DISCARDED, with
    ``reason`` (who removed them, how, from where) as their exception and now as their end.

    A run the history had not heard of is added so; a run already finished is left as it is (its
    message was a copy). Batches of :data:`DISCARD_BATCH`; returns how many runs were marked.
    """
    from sqlalchemy import update

    from .text import safe_text

    now, reason = utcnow(), safe_text(reason, 1000)
    marked = 0
    batch = list(messages)
    for start in range(0, len(batch), DISCARD_BATCH):
        chunk = {
            safe_text(task_id, 64): (name, queue)
            for task_id, name, queue in batch[start : start + DISCARD_BATCH]
            if task_id and len(task_id) <= 64  # a longer id has no row (the recorder sets it aside)
        }
        if not chunk:
            continue
        rows = [
            {
                "task_id": task_id,
                "name": (name or None) and safe_text(name, 255),
                "queue": (queue or None) and safe_text(queue, 255),
                "state": DISCARDED,
                "origin": "other",
                "exception": reason,
                "finished_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for task_id, (name, queue) in chunk.items()
        ]
        session.execute(dialect_insert(session)(TaskRun.__table__).values(rows).on_conflict_do_nothing())
        result = session.execute(
            update(TaskRun.__table__)
            .where(TaskRun.task_id.in_(list(chunk)), TaskRun.state.in_(UNFINISHED))
            .values(state=DISCARDED, exception=reason, finished_at=now, updated_at=now)
        )
        marked += result.rowcount
    session.commit()
    return marked


UNFINISHED = ("PENDING", "RECEIVED", "STARTED", "PROGRESS", "RETRY")


def coalesce(*columns):
    return func.coalesce(*columns)
