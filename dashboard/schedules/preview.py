"""When a schedule will run: previews while typing, next runs, and the app's static beat entries."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core.errors import DashboardError
from ..core.inspect import ALIVE_WITHIN, inspect_cached
from ..timeutil import as_utc, utcnow
from .models import Schedule
from .service import timing_of
from .timing import (
    KINDS,
    InvalidSchedule,
    Timing,
    cron_fields,
    describe,
    interval_seconds,
    parse_local,
    zone,
)


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
