"""History service: the functions other areas call when they send work."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..timeutil import utcnow
from .models import ORIGINS, TaskRun


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
    """Note a run the dashboard itself sent, with where it came from (before events arrive)."""
    if origin not in ORIGINS:
        raise ValueError(f"unknown origin {origin!r}")
    run = session.query(TaskRun).filter_by(task_id=task_id).one_or_none()
    if run is None:
        run = TaskRun(task_id=task_id, state="PENDING")
        session.add(run)
    run.name = name
    run.args = args
    run.kwargs = kwargs
    run.queue = queue
    run.origin = origin
    run.origin_ref = origin_ref
    run.retry_of = retry_of
    run.sent_at = run.sent_at or utcnow()
    session.commit()
    return run
