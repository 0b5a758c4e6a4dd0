"""The schedule store: reads and changes (each bumping the version counter beat watches), import.

No request objects here: the pages, the JSON API and the beat scheduler all call these.
Validation is ``spec.py``'s, firing ``firing.py``'s, previews ``preview.py``'s.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime

from celery import Celery
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..core.errors import DashboardError, NotFound, reason
from ..core.json_text import decode_json
from ..timeutil import as_utc, utcnow
from .models import Schedule, ScheduleVersion
from .spec import DuplicateName, ScheduleSpec, parse_spec, truthy
from .timing import (
    UNITS,
    InvalidSchedule,
    Timing,
    describe,
    zone,
)

MAX_ID = 2**31 - 1
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
    # Ids are SQL INTEGERs: a larger number names no schedule, and must not overflow the query.
    schedule = session.get(Schedule, schedule_id) if 0 <= schedule_id <= MAX_ID else None
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
    enabled = truthy(data.get("enable_now")) or truthy(data.get("enabled"))
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
        enabled = truthy(data["enabled"])
    elif truthy(data.get("enable_now")):
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
            schedule.enabled = truthy(item["enabled"])
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
