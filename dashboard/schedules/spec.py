"""A schedule definition as operators give it (form, API, import), validated into a ScheduleSpec."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core.errors import DashboardError, Unprocessable
from ..core.run_options import queue_checker, validate_run
from ..core.tasks import require_task
from ..timeutil import utcnow
from .timing import (
    KINDS,
    UNITS,
    InvalidSchedule,
    Timing,
    cron_fields,
    interval_seconds,
    parse_local,
    zone,
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


MULTILINE_FIELDS = ("description",)
MULTILINE = "\t\n\r"


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
    # Control characters have no place in a name or a zone, and PostgreSQL cannot store a NUL in
    # any text: refused here rather than failing the write (a description may hold line breaks).
    allowed = MULTILINE if name in MULTILINE_FIELDS else ""
    if any(unicodedata.category(char) == "Cc" and char not in allowed for char in value):
        raise Unprocessable(
            _l("%(field)s must not contain control characters", field=_word(name)), field=name
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


def truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return bool(value)
