"""Schedules: validation, changes (each bumping the version counter), runs, beat status.

No request objects here: the pages, the JSON API and the beat scheduler all call these.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from celery import Celery
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.dispatch import Outgoing, new_task_id, record, send_message
from ..core.errors import DashboardError, NotFound, Unprocessable, reason
from ..core.inspect import ALIVE_WITHIN, inspect_cached
from ..core.json_text import decode_json
from ..core.run_options import queue_checker, validate_run
from ..core.tasks import require_task
from ..timeutil import as_utc, utcnow
from .models import Schedule, ScheduleVersion
from .timing import (
    KINDS,
    UNITS,
    InvalidSchedule,
    Timing,
    cron_fields,
    describe,
    interval_seconds,
    parse_local,
    zone,
)

SCHEDULE_HEADER = "taskdeck_schedule_id"
DUE_HEADER = "taskdeck_due_at"
DEFAULT_MISSED_GRACE = 300.0  # seconds; SCHEDULE_MISSED_GRACE
EDITABLE = (
    "name",
    "task",
    "kind",
    "timezone",
    "run_at",
    "interval_every",
    "interval_unit",
    "cron",
    "args",
    "kwargs",
    "queue",
    "priority",
    "expires_seconds",
    "start_at",
    "end_at",
    "description",
)


class DuplicateName(Unprocessable):
    """Another schedule already has that name."""


# How refusals name a field: its key as the API takes it, in words (translated on the pages).
FIELD_WORDS = {
    "name": _l("name"),
    "task": _l("task"),
    "kind": _l("kind"),
    "timezone": _l("timezone"),
    "interval_unit": _l("interval unit"),
    "queue": _l("queue"),
    "description": _l("description"),
    "priority": _l("priority"),
    "expires_seconds": _l("expires seconds"),
    "args": _l("args"),
    "kwargs": _l("kwargs"),
}


def _word(name: str):
    return FIELD_WORDS.get(name) or name.replace("_", " ")


# --------------------------------------------------------------------------- validation


@dataclass
class ScheduleSpec:
    """A validated schedule definition, ready to store."""

    name: str
    task: str
    kind: str
    timezone: str
    run_at: datetime | None
    interval_every: int | None
    interval_unit: str | None
    cron: str | None
    args: list
    kwargs: dict
    queue: str | None
    priority: int | None
    expires_seconds: int | None
    start_at: datetime | None
    end_at: datetime | None
    description: str | None

    @property
    def timing(self) -> Timing:
        return Timing(
            kind=self.kind,
            timezone=self.timezone,
            run_at=self.run_at,
            every_seconds=interval_seconds(self.interval_every, self.interval_unit)
            if self.kind == "interval"
            else None,
            cron=self.cron,
            start_at=self.start_at,
            end_at=self.end_at,
        )


def _text(data: dict, name: str, *, required: bool = False, limit: int = 255) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Unprocessable(_l("%(field)s is required", field=_word(name)), field=name)
        return None
    if not isinstance(value, str):
        raise Unprocessable(_l("%(field)s must be text", field=_word(name)), field=name)
    value = value.strip()
    if len(value) > limit:
        raise Unprocessable(
            _l("%(field)s is longer than %(limit)s characters", field=_word(name), limit=limit), field=name
        )
    return value


def parse_spec(
    data: dict,
    celery_app: Celery,
    *,
    max_payload: int,
    check_task: bool = True,
    queues: Callable[[], Iterable[str]] | Iterable[str] = (),
) -> ScheduleSpec:
    """Validate a schedule definition from a form, the API or an import; raise with the offending field.

    What each run sends (task, args, kwargs, queue, priority, expiry, zone) is checked by the run
    model, as a direct run is; ``queues`` are accepted besides the configured ones.
    """
    if not isinstance(data, dict):
        raise DashboardError(_l("a schedule must be a JSON object"))
    name = _text(data, "name", required=True, limit=200)
    task_name = _text(data, "task", required=True)
    kind = _text(data, "kind", required=True)
    if kind not in KINDS:
        raise Unprocessable(_l("kind must be one of %(choices)s", choices=", ".join(KINDS)), field="kind")
    tz_name = _text(data, "timezone") or "UTC"
    tz = zone(tz_name)
    run_at = interval_every = interval_unit = cron = None
    if kind == "once":
        run_at = parse_local(data.get("run_at"), tz, "run_at")
        if run_at is None:
            raise InvalidSchedule(_l("a one-time schedule needs a run time"), field="run_at")
    elif kind == "interval":
        interval_unit = _text(data, "interval_unit") or "seconds"
        if interval_unit not in UNITS:
            raise InvalidSchedule(
                _l("unit must be one of %(choices)s", choices=", ".join(UNITS)), field="interval_unit"
            )
        interval_seconds(data.get("interval_every"), interval_unit)
        interval_every = int(str(data.get("interval_every")).strip())
    else:
        cron, _ = cron_fields(data.get("cron") or "")
    run = validate_run(
        {
            "task": task_name,
            "args": data.get("args"),
            "kwargs": data.get("kwargs"),
            "queue": data.get("queue"),
            "priority": data.get("priority"),
            "expires": data.get("expires_seconds"),
            "timezone": tz_name,
        },
        task=require_task(celery_app, task_name) if check_task else None,
        now=utcnow(),
        max_payload_bytes=max_payload,
        queue_known=queue_checker(celery_app, queues),
        names={"expires": "expires_seconds"},
        seconds_only_expiry=True,
    )
    start_at = parse_local(data.get("start_at"), tz, "start_at")
    end_at = parse_local(data.get("end_at"), tz, "end_at")
    if start_at and end_at and end_at <= start_at:
        raise InvalidSchedule(_l("the end must be after the start"), field="end_at")
    spec = ScheduleSpec(
        name=name,
        task=task_name,
        kind=kind,
        timezone=tz_name,
        run_at=run_at,
        interval_every=interval_every,
        interval_unit=interval_unit,
        cron=cron,
        args=run.args,
        kwargs=run.kwargs,
        queue=run.queue,
        priority=run.priority,
        expires_seconds=None if run.expires is None else int(run.expires),
        start_at=start_at,
        end_at=end_at,
        description=_text(data, "description", limit=2000),
    )
    if kind == "cron" and spec.timing.next_after(utcnow()) is None and not end_at:
        raise InvalidSchedule(_l("this cron expression never fires"), field="cron")
    return spec


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)


# --------------------------------------------------------------------------- version counter


def bump_version(session: Session) -> int:
    """Increment the counter inside the caller's transaction and return the new value."""
    session.execute(
        update(ScheduleVersion).where(ScheduleVersion.id == 1).values(value=ScheduleVersion.value + 1)
    )
    return session.execute(select(ScheduleVersion.value).where(ScheduleVersion.id == 1)).scalar_one()


def current_version(session: Session) -> int:
    """The counter's value (one primary-key read: beat's cheap check each tick)."""
    return session.execute(select(ScheduleVersion.value).where(ScheduleVersion.id == 1)).scalar_one()


# --------------------------------------------------------------------------- reads


def timing_of(schedule: Schedule) -> Timing:
    return Timing(
        kind=schedule.kind,
        timezone=schedule.timezone,
        run_at=as_utc(schedule.run_at),
        every_seconds=(schedule.interval_every or 0) * UNITS.get(schedule.interval_unit or "seconds", 1)
        if schedule.kind == "interval"
        else None,
        cron=schedule.cron,
        start_at=as_utc(schedule.start_at),
        end_at=as_utc(schedule.end_at),
    )


def get_schedule(session: Session, schedule_id: int) -> Schedule:
    schedule = session.get(Schedule, schedule_id)
    if schedule is None:
        raise NotFound(_l("no schedule with id %(id)s", id=schedule_id))
    return schedule


def list_schedules(
    session: Session, *, task: str | None = None, enabled: bool | None = None
) -> list[Schedule]:
    """Schedules by name, optionally only one task's or only enabled/disabled ones."""
    query = select(Schedule).order_by(Schedule.name)
    if task:
        query = query.where(Schedule.task == task)
    if enabled is not None:
        query = query.where(Schedule.enabled.is_(enabled))
    return list(session.scalars(query))


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def _wall(value: datetime | None, tz_name: str) -> str | None:
    """An instant as wall time in the schedule's zone, for export (round-trips through import)."""
    value = as_utc(value)
    return value.astimezone(zone(tz_name)).replace(tzinfo=None).isoformat() if value else None


def to_dict(schedule: Schedule) -> dict:
    """The API/export shape of a schedule: its definition, then its run state (``human`` in English)."""
    with force_locale("en"):
        human = describe(timing_of(schedule))
    return {
        "id": schedule.id,
        "name": schedule.name,
        "task": schedule.task,
        "kind": schedule.kind,
        "timezone": schedule.timezone,
        "run_at": _wall(schedule.run_at, schedule.timezone),
        "interval_every": schedule.interval_every,
        "interval_unit": schedule.interval_unit,
        "cron": schedule.cron,
        "args": json.loads(schedule.args or "[]"),
        "kwargs": json.loads(schedule.kwargs or "{}"),
        "queue": schedule.queue,
        "priority": schedule.priority,
        "expires_seconds": schedule.expires_seconds,
        "start_at": _wall(schedule.start_at, schedule.timezone),
        "end_at": _wall(schedule.end_at, schedule.timezone),
        "enabled": schedule.enabled,
        "description": schedule.description,
        "human": human,
        "next_run_at": _iso(schedule.next_run_at),
        "last_run_at": _iso(schedule.last_run_at),
        "last_task_id": schedule.last_task_id,
        "total_run_count": schedule.total_run_count,
        "missed_run_count": schedule.missed_run_count,
        "last_missed_at": _iso(schedule.last_missed_at),
    }


def definition_of(schedule: Schedule) -> dict:
    """The editable fields of a schedule, as the form and import take them."""
    data = to_dict(schedule)
    return {key: data[key] for key in EDITABLE}


# --------------------------------------------------------------------------- changes


def _apply(schedule: Schedule, spec: ScheduleSpec) -> None:
    for key in EDITABLE:
        value = getattr(spec, key)
        if key in ("args", "kwargs"):
            value = json.dumps(value)
        setattr(schedule, key, value)


def plan_next_run(schedule: Schedule, now: datetime) -> None:
    """Set ``next_run_at`` (and an interval's grid origin) for an enabled schedule, from ``now``."""
    if not schedule.enabled:
        schedule.next_run_at = None
        return
    timing = timing_of(schedule)
    if schedule.kind == "interval":
        schedule.anchor_at = as_utc(schedule.start_at) or now.replace(microsecond=0)
    schedule.next_run_at = timing.next_after(now, as_utc(schedule.anchor_at))


def _refuse_past_once(spec: ScheduleSpec, now: datetime, previous: Schedule | None, enabling: bool) -> None:
    if spec.kind != "once" or spec.run_at is None or spec.run_at > now:
        return
    unchanged = previous is not None and previous.kind == "once" and as_utc(previous.run_at) == spec.run_at
    if not unchanged or enabling:
        raise InvalidSchedule(_l("the run time is in the past"), field="run_at")


def _commit_change(session: Session, schedule: Schedule | None = None) -> None:
    version = bump_version(session)
    if schedule is not None:
        schedule.changed_version = version
        schedule.updated_at = utcnow()
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise DuplicateName(_l("another schedule already has this name"), field="name") from None


def _check_name_free(session: Session, name: str, own_id: int | None) -> None:
    other = session.execute(select(Schedule.id).where(Schedule.name == name)).scalar_one_or_none()
    if other is not None and other != own_id:
        raise DuplicateName(_l("another schedule is already called '%(name)s'", name=name), field="name")


def create_schedule(
    session: Session, celery_app: Celery, data: dict, *, max_payload: int, now: datetime | None = None
) -> Schedule:
    """Store a new schedule; it stays disabled unless ``enable_now``/``enabled`` is true."""
    now = now or utcnow()
    spec = parse_spec(data, celery_app, max_payload=max_payload)
    enabled = _truthy(data.get("enable_now")) or _truthy(data.get("enabled"))
    _refuse_past_once(spec, now, None, True)
    _check_name_free(session, spec.name, None)
    schedule = Schedule(enabled=enabled, total_run_count=0, missed_run_count=0)
    _apply(schedule, spec)
    plan_next_run(schedule, now)
    session.add(schedule)
    _commit_change(session, schedule)
    return schedule


def update_schedule(
    session: Session,
    celery_app: Celery,
    schedule_id: int,
    data: dict,
    *,
    max_payload: int,
    partial: bool = False,
    now: datetime | None = None,
) -> Schedule:
    """Replace (or, with ``partial``, patch) a schedule's definition; its next run is replanned."""
    now = now or utcnow()
    schedule = get_schedule(session, schedule_id)
    merged = {**definition_of(schedule), **data} if partial else dict(data)
    spec = parse_spec(merged, celery_app, max_payload=max_payload)
    enabled = schedule.enabled
    if "enabled" in data:
        enabled = _truthy(data["enabled"])
    elif _truthy(data.get("enable_now")):
        enabled = True
    _refuse_past_once(spec, now, schedule, enabled and not schedule.enabled)
    if spec.kind == "once" and spec.run_at is not None and spec.run_at <= now:
        enabled = False  # an already-passed one-time run stays done
    _check_name_free(session, spec.name, schedule.id)
    _apply(schedule, spec)
    schedule.enabled = enabled
    plan_next_run(schedule, now)
    _commit_change(session, schedule)
    return schedule


def set_enabled(
    session: Session, schedule_id: int, enabled: bool, *, now: datetime | None = None
) -> Schedule:
    """Enable (planning the next run from now) or disable a schedule."""
    now = now or utcnow()
    schedule = get_schedule(session, schedule_id)
    if enabled and schedule.kind == "once" and (as_utc(schedule.run_at) or now) <= now:
        raise InvalidSchedule(
            _l("this one-time schedule's run time has passed; edit it first"), field="run_at"
        )
    if schedule.enabled != enabled or (enabled and schedule.next_run_at is None):
        schedule.enabled = enabled
        plan_next_run(schedule, now)
        _commit_change(session, schedule)
    return schedule


def delete_schedule(session: Session, schedule_id: int) -> None:
    schedule = get_schedule(session, schedule_id)
    session.delete(schedule)
    _commit_change(session)


def duplicate_schedule(session: Session, schedule_id: int) -> Schedule:
    """A disabled copy named "<name> (copy)", "<name> (copy 2)", ..."""
    original = get_schedule(session, schedule_id)
    base = f"{original.name} (copy"
    taken = set(session.scalars(select(Schedule.name).where(Schedule.name.like(f"{base}%"))))
    name = f"{base})"
    number = 2
    while name in taken:
        name = f"{base} {number})"
        number += 1
    copy = Schedule(name=name[:200], enabled=False, total_run_count=0, missed_run_count=0)
    for key in EDITABLE:
        if key != "name":
            setattr(copy, key, getattr(original, key))
    session.add(copy)
    _commit_change(session, copy)
    return copy


def import_schedules(
    session: Session,
    celery_app: Celery,
    items: object,
    *,
    max_payload: int,
    now: datetime | None = None,
    queues: Callable[[], Iterable[str]] | Iterable[str] = (),
) -> tuple[int, int]:
    """Create or (by name) update every schedule in ``items``, all or nothing.

    ``items`` is the decoded list, or the JSON text of a file or request body (decoded here with
    the one JSON decoder, so nesting and NaN are refused as everywhere else). Returns (created,
    updated). Imported schedules keep their ``enabled`` flag only when it is given; new ones are
    disabled by default.
    """
    now = now or utcnow()
    if isinstance(items, str | bytes):
        items = decode_json(items, "file", members=2)
    if not isinstance(items, list):
        raise DashboardError(_l("an import must be a JSON list of schedules"), field="file")
    specs = []
    seen: set[str] = set()
    for index, item in enumerate(items, start=1):
        try:
            spec = parse_spec(item, celery_app, max_payload=max_payload, queues=queues)
        except DashboardError as exc:
            message = _l("schedule #%(index)s: %(reason)s", index=index, reason=reason(exc))
            raise type(exc)(message, field=exc.field) from None
        if spec.name in seen:
            raise DuplicateName(
                _l("schedule #%(index)s: the name '%(name)s' appears twice", index=index, name=spec.name),
                field="name",
            )
        seen.add(spec.name)
        specs.append((spec, item))
    existing = {s.name: s for s in session.scalars(select(Schedule).where(Schedule.name.in_(seen)))}
    created = updated = 0
    version = bump_version(session)
    for spec, item in specs:
        schedule = existing.get(spec.name)
        if schedule is None:
            schedule = Schedule(enabled=False, total_run_count=0, missed_run_count=0)
            session.add(schedule)
            created += 1
        else:
            updated += 1
        if "enabled" in item:
            schedule.enabled = _truthy(item["enabled"])
        _apply(schedule, spec)
        if spec.kind == "once" and spec.run_at is not None and spec.run_at <= now:
            schedule.enabled = False
        plan_next_run(schedule, now)
        schedule.changed_version = version
        schedule.updated_at = now
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise DuplicateName(_l("an imported name clashes with an existing schedule"), field="name") from None
    return created, updated


# --------------------------------------------------------------------------- runs


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


def claim_due_runs(session: Session, runs: list[ScheduleRun], now: datetime, grace: float) -> list[Claim]:
    """Claim due runs (or count the runs missed beyond the grace period) in SQL before publishing.

    One transaction for the whole batch; one ``Claim`` per run, in order. Every due time is
    accounted for exactly once: fired when it is at most ``grace`` seconds old (so a beat that
    was down catches up run by run), otherwise counted as missed. Each update only applies while
    the row still says ``next_run_at == due`` and is enabled, so two beats (or a beat and an
    edit) never both claim one due time. No history row is written here: a fired run is
    recorded only once the broker has accepted it (:func:`record_published`), so a broker that
    refuses leaves no PENDING run behind.
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


# --------------------------------------------------------------------------- preview


@dataclass(frozen=True)
class RunTime:
    """One upcoming run, shown in the schedule's zone and the operator's."""

    at: datetime
    schedule_zone: str
    operator_zone: str

    def to_json(self) -> dict:
        return {
            "at": self.at.isoformat(),
            "schedule_zone": self.schedule_zone,
            "operator_zone": self.operator_zone,
        }


@dataclass
class Preview:
    """What the form shows while typing: the human text and next runs, or the precise error."""

    human: str | None = None
    runs: list[RunTime] = field(default_factory=list)
    error: str | None = None  # in the operator's language, for the page
    field: str | None = None
    error_english: str | None = None  # for the JSON API

    def to_json(self) -> dict:
        if self.error:
            return {"error": self.error_english or self.error, "field": self.field}
        return {"human": self.human, "runs": [run.to_json() for run in self.runs]}


def run_times(timing: Timing, instants: list[datetime], operator_zone: str) -> list[RunTime]:
    own = zone(timing.timezone)
    viewer = zone(operator_zone)
    fmt = "%Y-%m-%d %H:%M:%S %Z"
    return [
        RunTime(at, at.astimezone(own).strftime(fmt), at.astimezone(viewer).strftime(fmt)) for at in instants
    ]


def preview(
    data: dict,
    operator_zone: str,
    *,
    count: int = 5,
    now: datetime | None = None,
    locale: str = "en_US",
) -> Preview:
    """Next ``count`` runs of an unsaved definition (only the timing fields are read)."""
    now = now or utcnow()
    try:
        kind = data.get("kind") or "cron"
        if kind not in KINDS:
            raise InvalidSchedule(
                _l("kind must be one of %(choices)s", choices=", ".join(KINDS)), field="kind"
            )
        tz_name = (data.get("timezone") or "UTC").strip()
        tz = zone(tz_name)
        timing = Timing(kind=kind, timezone=tz_name)
        if kind == "once":
            run_at = parse_local(data.get("run_at"), tz, "run_at")
            if run_at is None:
                raise InvalidSchedule(_l("a one-time schedule needs a run time"), field="run_at")
            if run_at <= now:
                raise InvalidSchedule(_l("the run time is in the past"), field="run_at")
            timing = Timing(kind=kind, timezone=tz_name, run_at=run_at)
        elif kind == "interval":
            seconds = interval_seconds(data.get("interval_every"), data.get("interval_unit") or "seconds")
            timing = Timing(kind=kind, timezone=tz_name, every_seconds=seconds)
        else:
            cron, _ = cron_fields(data.get("cron") or "")
            timing = Timing(kind=kind, timezone=tz_name, cron=cron)
        start_at = parse_local(data.get("start_at"), tz, "start_at")
        end_at = parse_local(data.get("end_at"), tz, "end_at")
        timing = Timing(**{**timing.__dict__, "start_at": start_at, "end_at": end_at})
        instants = timing.upcoming(
            now, max(1, min(count, 100)), anchor=start_at or now.replace(microsecond=0)
        )
        if kind == "cron" and not instants and not end_at:
            raise InvalidSchedule(_l("this cron expression never fires"), field="cron")
        return Preview(human=describe(timing, locale), runs=run_times(timing, instants, operator_zone))
    except DashboardError as exc:
        return Preview(error=exc.message, field=exc.field, error_english=exc.english)


def next_runs(
    schedule: Schedule, operator_zone: str, count: int, *, now: datetime | None = None
) -> list[RunTime]:
    """The next ``count`` runs of a stored schedule (whether or not it is enabled)."""
    now = now or utcnow()
    timing = timing_of(schedule)
    anchor = as_utc(schedule.anchor_at) or as_utc(schedule.start_at) or now.replace(microsecond=0)
    return run_times(timing, timing.upcoming(now, max(1, min(count, 100)), anchor=anchor), operator_zone)


# --------------------------------------------------------------------------- workers and beat


def registered_on_live_workers(
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    *,
    timeout: float,
    max_age: float,
    alive_within: float = ALIVE_WITHIN,
) -> set[str]:
    """Task names registered on at least one worker answering inspect (the shared inspect cache)."""
    snapshot = inspect_cached(
        client, prefix, celery_app, "registered", timeout=timeout, max_age=max_age, alive_within=alive_within
    )
    return {name.split(" ")[0] for tasks in snapshot.replies.values() for name in (tasks or [])}


@dataclass(frozen=True)
class StaticEntry:
    """A ``beat_schedule`` entry from the Celery configuration (read-only here)."""

    name: str
    task: str
    schedule: str
    args: str
    kwargs: str
    options: str

    @classmethod
    def from_config(cls, name: str, entry: dict) -> StaticEntry:
        return cls(
            name=name,
            task=str(entry.get("task", "")),
            schedule=_describe_celery_schedule(entry.get("schedule")),
            args=json.dumps(list(entry.get("args") or ()), default=str),
            kwargs=json.dumps(dict(entry.get("kwargs") or {}), default=str),
            options=json.dumps(dict(entry.get("options") or {}), default=str),
        )


def _describe_celery_schedule(value: object) -> str:
    if isinstance(value, int | float):
        return f"every {value:g} s"
    if isinstance(value, timedelta):
        return f"every {value.total_seconds():g} s"
    return str(value)


def static_entries(celery_app: Celery) -> list[StaticEntry]:
    """The Celery app's own ``beat_schedule``, by name."""
    config = celery_app.conf.beat_schedule or {}
    return [StaticEntry.from_config(name, entry) for name, entry in sorted(config.items())]
