"""Firing schedules: what beat claims each tick, the message it sends, and triggering one now."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import Celery
from sqlalchemy import update
from sqlalchemy.orm import Session

from ..core.dispatch import Outgoing, new_task_id, record, send_message
from ..core.tasks import require_task
from ..timeutil import as_utc, utcnow
from .models import Schedule, ScheduleFire
from .service import bump_version, get_schedule, timing_of
from .timing import (
    Timing,
)

# Headers a fired message carries, so its run can be traced to the schedule and due time.
SCHEDULE_HEADER = "taskdeck_schedule_id"
DUE_HEADER = "taskdeck_due_at"


def schedule_message(schedule: ScheduleRun, task_id: str, due: datetime | None) -> Outgoing:
    """One run of a schedule as a message, tagged with the schedule id (and due time)."""
    headers = {SCHEDULE_HEADER: str(schedule.id)}
    if due is not None:
        headers[DUE_HEADER] = due.isoformat()
    options: dict = {"headers": headers}
    if schedule.queue:
        options["queue"] = schedule.queue
    if schedule.priority is not None:
        options["priority"] = schedule.priority
    if schedule.expires_seconds:
        options["expires"] = schedule.expires_seconds
    return Outgoing(
        task=schedule.task,
        args=schedule.args,
        kwargs=schedule.kwargs,
        origin="schedule",
        origin_ref=str(schedule.id),
        options=options,
        task_id=task_id,
    )


def fire_message(message: Outgoing) -> str:
    """The outbox's text of a claimed run: everything needed to publish it again, later."""
    return json.dumps(
        {
            "task": message.task,
            "args": message.args,
            "kwargs": message.kwargs,
            "origin_ref": message.origin_ref,
            "options": dict(message.options),
        }
    )


def outgoing_of(fire: ScheduleFire) -> Outgoing:
    """The message of a claimed run, from its outbox row (same task id, same headers)."""
    data = json.loads(fire.message)
    return Outgoing(
        task=data["task"],
        args=data["args"],
        kwargs=data["kwargs"],
        origin="schedule",
        origin_ref=data["origin_ref"],
        options=data["options"],
        task_id=fire.task_id,
    )


def publish(
    celery_app: Celery, schedule: ScheduleRun, task_id: str, due: datetime | None, producer=None
) -> None:
    """Send one run of a schedule to the broker; BrokerUnavailable when it refuses. Not recorded:
    the caller records what was sent (:func:`record_published`)."""
    send_message(celery_app, schedule_message(schedule, task_id, due), producer=producer)


def record_published(session: Session, celery_app: Celery, sent: list[Outgoing]) -> int:
    """Note published runs in the history (after sending, never before); returns how many."""
    return sum(record(session, message, message.queue(celery_app)) for message in sent)


@dataclass
class ScheduleRun:
    """What beat keeps in memory per enabled schedule: enough to fire it without a query."""

    id: int
    name: str
    task: str
    kind: str
    timing: Timing
    args: list
    kwargs: dict
    queue: str | None
    priority: int | None
    expires_seconds: int | None
    anchor_at: datetime | None
    next_run_at: datetime | None

    @classmethod
    def from_row(cls, row: Schedule) -> ScheduleRun:
        return cls(
            id=row.id,
            name=row.name,
            task=row.task,
            kind=row.kind,
            timing=timing_of(row),
            args=json.loads(row.args or "[]"),
            kwargs=json.loads(row.kwargs or "{}"),
            queue=row.queue,
            priority=row.priority,
            expires_seconds=row.expires_seconds,
            anchor_at=as_utc(row.anchor_at),
            next_run_at=as_utc(row.next_run_at),
        )


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming one due run: fired (with a task id), missed, or lost to another."""

    outcome: str  # "fire" | "missed" | "lost"
    task_id: str | None = None
    next_run_at: datetime | None = None
    missed: int = 0


def claim_due_runs(
    session: Session, runs: list[ScheduleRun], now: datetime, grace: float, *, fence: int = 0
) -> list[Claim]:
    """Claim due runs (or count the runs missed beyond the grace period) in SQL before publishing.

    One transaction for the whole batch; one ``Claim`` per run, in order. Every due time is
    accounted for exactly once: fired when it is at most ``grace`` seconds old (so a beat that
    was down catches up run by run), otherwise counted as missed. Each update only applies while
    the row still says ``next_run_at == due`` and is enabled, so two beats (or a beat and an
    edit) never both claim one due time. A fired claim writes its message, under its task id,
    to the outbox (:class:`ScheduleFire`) in the same transaction: until the broker holds it,
    the active beat can publish it again under the same id. No history row is written here.
    """
    cutoff = now - timedelta(seconds=grace)
    claims: list[Claim] = []
    version: int | None = None
    for run in runs:
        due = run.next_run_at
        values: dict = {}
        missed = 0
        task_id = None
        if due < cutoff:
            missed, next_run = _skip_missed(run, due, cutoff)
            values.update(missed_run_count=Schedule.missed_run_count + missed, last_missed_at=due)
        else:
            next_run = None if run.kind == "once" else run.timing.next_after(due, run.anchor_at)
            task_id = str(uuid.uuid4())
            values.update(last_run_at=now, last_task_id=task_id, total_run_count=Schedule.total_run_count + 1)
        values["next_run_at"] = next_run
        if run.kind == "once":
            version = version or bump_version(session)
            values.update(enabled=False, changed_version=version)
        result = session.execute(
            update(Schedule)
            .where(Schedule.id == run.id, Schedule.next_run_at == due, Schedule.enabled.is_(True))
            .values(**values)
        )
        if result.rowcount != 1:
            claims.append(Claim("lost"))
        elif task_id is None:
            claims.append(Claim("missed", next_run_at=next_run, missed=missed))
        else:
            claims.append(Claim("fire", task_id=task_id, next_run_at=next_run))
            message = fire_message(schedule_message(run, task_id, due))
            session.add(
                ScheduleFire(
                    task_id=task_id,
                    schedule_id=run.id,
                    due_at=due,
                    claimed_at=now,
                    fence=fence,
                    message=message,
                )
            )
    session.commit()
    return claims


def _skip_missed(run: ScheduleRun, due: datetime, cutoff: datetime) -> tuple[int, datetime | None]:
    """How many due times from ``due`` fall before ``cutoff``, and the first one that does not."""
    if run.kind == "once":
        return 1, None
    if run.kind == "interval":
        step = timedelta(seconds=run.timing.every_seconds)
        skipped = -((due - cutoff) // step)  # grid points strictly before the cutoff
        candidate = due + skipped * step
        if run.timing.end_at is not None and candidate > run.timing.end_at:
            candidate = None
        return skipped, candidate
    skipped, candidate = 0, due
    while candidate is not None and candidate < cutoff and skipped < 100_000:
        skipped += 1
        candidate = run.timing.next_after(candidate, run.anchor_at)
    return skipped, candidate


def trigger_now(
    session: Session, celery_app: Celery, schedule_id: int, *, now: datetime | None = None
) -> str:
    """Send one run now, outside the schedule's timetable; returns the Celery task id.

    Sent first: a broker that refuses raises BrokerUnavailable and changes nothing (no history
    row, the schedule's counters untouched).
    """
    now = now or utcnow()
    schedule = get_schedule(session, schedule_id)
    require_task(celery_app, schedule.task)
    run = ScheduleRun.from_row(schedule)
    task_id = new_task_id()
    publish(celery_app, run, task_id, None)
    schedule.last_run_at = now
    schedule.last_task_id = task_id
    schedule.total_run_count = (schedule.total_run_count or 0) + 1
    session.commit()
    record_published(session, celery_app, [schedule_message(run, task_id, None)])
    return task_id
