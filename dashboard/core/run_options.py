"""One model of a run: what to call and how to send it, with the same bounds at every entry point.

The Run form and ``POST /api/v1/tasks/<name>/run``, the staging list (API and forms) and
schedules (form, API, JSON import) all validate through :func:`validate_run`, so a value one of
them refuses is refused by all, with the input named as the API takes it.

* ``countdown`` and a relative ``expires`` are finite seconds up to ``bounds.MAX_DELAY`` (ten
  years); an ETA or expiry date-time lies in ``bounds.EARLIEST..LATEST``, so it can be shown and
  computed with in every time zone;
* ``priority`` is 0-9, the range kombu's Redis transport serves;
* ``queue`` is one the app configures, or one the caller says a live worker consumes;
* ``timezone`` is an IANA zone name from the tz database (not a directory or a path);
* ``args``/``kwargs`` are a JSON list/object, finite, nested at most MAX_JSON_DEPTH levels and
  together at most MAX_PAYLOAD_BYTES, and they bind to the task's signature.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from celery import Celery
from celery.app.task import Task
from flask_babel import lazy_gettext as _l
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import bounds
from .bounds import InvalidRunOption, blank
from .broker import configured_queues
from .errors import DashboardError, Unprocessable
from .json_text import check_json_value, decode_json, json_size
from .tasks import InvalidArguments, check_arguments, require_task

# An ETA this far in the past is still accepted (and runs at once): it covers the seconds between
# an operator picking "now + a minute" and pressing Run, and clocks a little apart.
ETA_GRACE = timedelta(seconds=60)
QUEUE_NAME_LIMIT = 255
# How Celery should send a run, as every entry point takes it. A staged item keeps all but the zone,
# in which an ETA or expiry without an offset is read (the item keeps them in UTC).
RUN_OPTIONS = ("queue", "priority", "countdown", "eta", "expires", "timezone")


class PayloadTooLarge(Unprocessable):
    """Arguments larger than the configured limit (``MAX_PAYLOAD_BYTES``)."""


class _Refused(ValueError):
    """A refusal inside the model; pydantic carries it to :func:`refusal` in its error's context."""

    def __init__(self, refused: DashboardError):
        super().__init__(refused.text)
        self.refused = refused


@contextmanager
def _refusing():
    """Hand a refusal raised by a helper to pydantic, so the first error wins whatever raised it."""
    try:
        yield
    except DashboardError as exc:
        raise _Refused(exc) from None


@dataclass(frozen=True)
class RunContext:
    """What validating a run needs besides the input: the task, the clock, the limits, the queues.

    ``names`` maps a model field to the input's name where an entry point calls it otherwise
    (schedules: ``expires`` -> ``expires_seconds``). ``check_times`` False skips the checks
    against the clock (an ETA that has passed, an absolute expiry before the start): for work
    accepted once already, such as a staged item being edited or a waiting message being moved.
    """

    task: Task | None
    now: datetime
    max_payload_bytes: int
    queue_known: Callable[[str], bool]
    names: Mapping[str, str] = field(default_factory=dict)
    check_times: bool = True
    seconds_only_expiry: bool = False

    def name(self, model_field: str) -> str:
        return self.names.get(model_field, model_field)


def queue_checker(
    celery_app: Celery, consumed: Callable[[], Iterable[str]] | Iterable[str] = ()
) -> Callable[[str], bool]:
    """``name -> bool``: configured in the app, else among ``consumed`` (asked only then, since
    it may mean asking the workers)."""

    def known(name: str) -> bool:
        if name in configured_queues(celery_app):
            return True
        return name in set(consumed() if callable(consumed) else consumed)

    return known


def _context(info: ValidationInfo) -> RunContext:
    return info.context["run"]


def _zone(info: ValidationInfo) -> ZoneInfo:
    return ZoneInfo(info.data.get("timezone") or "UTC")  # a refused zone was reported first


def _json_argument(value: object, field: str, kind: type, default: object) -> object:
    if blank(value):
        return default
    with _refusing():
        if isinstance(value, str):
            value = decode_json(value, field)
        if not isinstance(value, kind):
            if kind is list:
                raise InvalidArguments(_l("positional arguments must be a JSON list"), field=field)
            raise InvalidArguments(_l("keyword arguments must be a JSON object"), field=field)
        check_json_value(value, field)
    return value


def _never_runs(field: str) -> InvalidRunOption:
    return InvalidRunOption(
        _l("expires must be later than now and than the ETA/countdown (the task would never run)"),
        field=field,
    )


class Run(BaseModel):
    """A validated run: the task and its arguments, and how Celery should send it.

    Times are aware UTC datetimes; ``expires`` is seconds (counted from sending, or from the
    release of a staged item) or an instant. Build one with :func:`validate_run`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    args: list = Field(default_factory=list)
    kwargs: dict = Field(default_factory=dict)
    timezone: str = "UTC"
    queue: str | None = None
    priority: int | None = None
    countdown: float | None = None
    eta: datetime | None = None
    expires: float | datetime | None = None

    @field_validator("args", mode="before")
    @classmethod
    def _args(cls, value: object) -> object:
        return _json_argument(value, "args", list, [])

    @field_validator("kwargs", mode="before")
    @classmethod
    def _kwargs(cls, value: object) -> object:
        return _json_argument(value, "kwargs", dict, {})

    @field_validator("timezone", mode="before")
    @classmethod
    def _timezone(cls, value: object) -> str:
        if blank(value):
            return "UTC"
        with _refusing():
            return bounds.time_zone(value).key

    @field_validator("queue", mode="before")
    @classmethod
    def _queue(cls, value: object, info: ValidationInfo) -> str | None:
        if blank(value):
            return None  # Celery's own routing decides
        name = value.strip() if isinstance(value, str) else None
        with _refusing():
            if name is None or len(name) > QUEUE_NAME_LIMIT or not name.isprintable():
                raise InvalidRunOption(_l("queue must be a queue name"), field="queue")
            if not _context(info).queue_known(name):
                raise InvalidRunOption(
                    _l(
                        "unknown queue '%(name)s': not configured in the app and no live worker consumes it",
                        name=name,
                    ),
                    field="queue",
                )
        return name

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: object) -> int | None:
        if blank(value):
            return None
        with _refusing():
            return bounds.priority(value)

    @field_validator("countdown", mode="before")
    @classmethod
    def _countdown(cls, value: object) -> float | None:
        if blank(value):
            return None
        with _refusing():
            return bounds.seconds(value, "countdown")

    @field_validator("eta", mode="before")
    @classmethod
    def _eta(cls, value: object, info: ValidationInfo) -> datetime | None:
        if blank(value):
            return None
        with _refusing():
            return bounds.instant(value, "eta", _zone(info))

    @field_validator("expires", mode="before")
    @classmethod
    def _expires(cls, value: object, info: ValidationInfo) -> float | datetime | None:
        if blank(value):
            return None
        context = _context(info)
        field = context.name("expires")
        with _refusing():
            if context.seconds_only_expiry:
                return float(bounds.whole_seconds(value, field))
            number = _number(value)
            if number is not None:
                if number <= 0:
                    raise _never_runs(field)
                return bounds.seconds(number, field)
            if isinstance(value, str | datetime):
                return bounds.instant(value, field, _zone(info))
            raise InvalidRunOption(_l("expires must be seconds or an ISO 8601 date-time"), field=field)

    @model_validator(mode="after")
    def _across_fields(self, info: ValidationInfo) -> Run:
        context = _context(info)
        with _refusing():
            if self.countdown is not None and self.eta is not None:
                raise InvalidRunOption(_l("give either a countdown or an ETA, not both"), field="countdown")
            if context.task is not None:
                check_arguments(context.task, self.args, self.kwargs)
            self._check_size(context.max_payload_bytes)
            relative = self.expires_after
            if relative is not None and self.countdown is not None and relative <= self.countdown:
                raise _never_runs(context.name("expires"))  # both count from the same moment
            if context.check_times:
                self._check_times(context)
        return self

    def _check_size(self, limit: int) -> None:
        args_size, kwargs_size = json_size(self.args), json_size(self.kwargs)
        if args_size + kwargs_size > limit:
            raise PayloadTooLarge(
                _l(
                    "arguments are %(size)s bytes of JSON, over the %(limit)s-byte limit",
                    size=args_size + kwargs_size,
                    limit=limit,
                ),
                field="args" if args_size >= kwargs_size else "kwargs",
            )

    def _check_times(self, context: RunContext) -> None:
        now = context.now
        if self.eta is not None and self.eta < now - ETA_GRACE:
            raise InvalidRunOption(_l("ETA %(when)s is in the past", when=self.shown(self.eta)), field="eta")
        if self.expires is not None:
            starts = self.eta or now + timedelta(seconds=self.countdown or 0)
            if self.expires_at(now) <= max(now, starts):
                raise _never_runs(context.name("expires"))

    def expires_at(self, now: datetime) -> datetime | None:
        """The expiry as an instant, a relative one counted from ``now``."""
        if self.expires is None or isinstance(self.expires, datetime):
            return self.expires
        return now + timedelta(seconds=self.expires)

    def send_options(self, now: datetime) -> dict[str, object]:
        """Keyword arguments for ``Celery.send_task`` (only those set), an expiry counted from ``now``."""
        values = {
            "queue": self.queue,
            "priority": self.priority,
            "countdown": self.countdown,
            "eta": self.eta,
        }
        values["expires"] = self.expires_at(now)
        return {name: value for name, value in values.items() if value is not None}

    @property
    def expires_after(self) -> float | None:
        """The expiry in seconds when given in seconds (a staged run counts it from its release)."""
        return None if self.expires is None or isinstance(self.expires, datetime) else self.expires

    def shown(self, moment: datetime) -> str:
        """``moment`` as the operator reads it: in the run's zone, with the zone's name."""
        return moment.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")

    def staged_options(self) -> dict[str, object]:
        """The options a staging item keeps: relative times stay relative, instants become UTC text."""
        expires = self.expires.isoformat() if isinstance(self.expires, datetime) else self.expires
        options = {
            "queue": self.queue,
            "priority": self.priority,
            "countdown": self.countdown,
            "eta": self.eta.isoformat() if self.eta else None,
            "expires": expires,
        }
        return {name: value for name, value in options.items() if value is not None}


def _number(value: object) -> float | int | None:
    """``value`` as a number when it is one or numeric text, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def refusal(error: ValidationError, names: Mapping[str, str] | None = None) -> DashboardError:
    """The refusal for pydantic's first error, naming the input as the API takes it."""
    first = error.errors(include_url=False)[0]
    location = str(first["loc"][0]) if first["loc"] else None
    field = (names or {}).get(location, location) if location else None
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, _Refused):
        refused = cause.refused
        return type(refused)(refused.text, field=refused.field or field)
    if first["type"] == "extra_forbidden":
        return InvalidRunOption(_l("unknown option '%(name)s'", name=bounds.shown(field)), field=field)
    return InvalidRunOption(_l("%(field)s: %(error)s", field=field, error=first["msg"]), field=field)


def validate_run(
    data: Mapping[str, object],
    *,
    task: Task | None,
    now: datetime,
    max_payload_bytes: int,
    queue_known: Callable[[str], bool],
    names: Mapping[str, str] | None = None,
    check_times: bool = True,
    seconds_only_expiry: bool = False,
) -> Run:
    """Validate run input given under the model's field names; raise the first refusal.

    ``task`` (from ``require_task``), when given, also checks that the arguments bind to its
    signature; ``now`` must be timezone-aware. Nothing is sent or stored here.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    context = RunContext(
        task=task,
        now=now,
        max_payload_bytes=max_payload_bytes,
        queue_known=queue_known,
        names=dict(names or {}),
        check_times=check_times,
        seconds_only_expiry=seconds_only_expiry,
    )
    try:
        return Run.model_validate(dict(data), context={"run": context})
    except ValidationError as exc:
        raise refusal(exc, context.names) from None


def validate_staged(
    celery_app: Celery,
    data: object,
    *,
    max_payload_bytes: int,
    queues: Callable[[], Iterable[str]] | Iterable[str] = (),
    check_times: bool = True,
) -> Run:
    """Staging item data (``task``, ``args``, ``kwargs``, ``options``) as a validated run.

    ``queues`` are accepted besides the configured ones (those live workers consume, or the queue
    a waiting message is moved from); ``check_times`` False accepts an ETA or expiry that has
    passed, for work accepted once already (an item edited, a waiting message moved).
    """
    if not isinstance(data, Mapping):
        raise DashboardError(_l("the item must be a JSON object"))
    task = require_task(celery_app, data.get("task"))
    options = data.get("options")
    if blank(options):
        options = {}
    if not isinstance(options, Mapping):
        raise InvalidRunOption(_l("options must be a JSON object"), field="options")
    unknown = sorted(set(options) - set(RUN_OPTIONS))
    if unknown:
        raise InvalidRunOption(_l("unknown option '%(name)s'", name=unknown[0]), field=unknown[0])
    return validate_run(
        {"task": task.name, "args": data.get("args"), "kwargs": data.get("kwargs"), **options},
        task=task,
        now=datetime.now(UTC),
        max_payload_bytes=max_payload_bytes,
        queue_known=queue_checker(celery_app, queues),
        check_times=check_times,
    )
