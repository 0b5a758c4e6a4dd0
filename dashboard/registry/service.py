"""The task registry: what the managed Celery app can run, and checks on a run request.

Everything here works without a Flask request: views, the JSON API and background processes
(staging, schedules) call the same functions with the Celery app and settings as arguments.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import redis
from celery import Celery
from celery.app.task import Task
from flask_babel import lazy_gettext as _l
from kombu.exceptions import OperationalError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ..core.errors import DashboardError, NotFound, Unprocessable, reason
from ..workers.service import inspect_many

log = logging.getLogger(__name__)

INTERNAL_PREFIX = "celery."
# An ETA this far in the past is still accepted (and runs at once): it covers the seconds between
# an operator picking "now + a minute" and pressing Run, and clocks a little apart.
ETA_GRACE = timedelta(seconds=60)
PRIORITY_RANGE = range(0, 10)
RESULT_DISPLAY_LIMIT = 2000


class UnknownTask(NotFound):
    """The managed Celery app has no task of that name."""


class InvalidArguments(Unprocessable):
    """Positional/keyword arguments that do not bind to the task's signature."""


class InvalidRunOption(Unprocessable):
    """A run option (countdown, ETA, queue, priority, expiry) that cannot be honoured."""


class MalformedJSON(DashboardError):
    """A field that should hold JSON does not parse."""


class PayloadTooLarge(Unprocessable):
    """Arguments larger than the configured limit (``MAX_PAYLOAD_BYTES``)."""


class BrokerUnavailable(DashboardError):
    """The broker refused or could not be reached while sending."""

    status_code = 503


def require_task(celery_app: Celery, name: str) -> Task:
    """The registered task called ``name``; UnknownTask when there is none."""
    celery_app.loader.import_default_modules()
    task = celery_app.tasks.get(name) if isinstance(name, str) else None
    if task is None:
        raise UnknownTask(_l("unknown task '%(name)s'", name=name), field="task")
    return task


def task_signature(task: Task) -> inspect.Signature | None:
    """The signature operators call the task with (``self`` of bound tasks left out)."""
    try:
        return inspect.signature(task.run)
    except (TypeError, ValueError):
        return None


def check_arguments(task: Task, args: list, kwargs: dict) -> None:
    """Raise InvalidArguments (with Python's own reason) when args/kwargs do not fit the task."""
    if not isinstance(args, list):
        raise InvalidArguments(_l("positional arguments must be a JSON list"), field="args")
    if not isinstance(kwargs, dict):
        raise InvalidArguments(_l("keyword arguments must be a JSON object"), field="kwargs")
    signature = task_signature(task)
    if signature is None:
        return  # no introspectable signature: let the worker decide
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidArguments(
            _l("arguments do not fit %(call)s: %(error)s", call=f"{task.name}{signature}", error=str(exc)),
            field="args",
        ) from exc


# --- What workers report ---------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerReport:
    """What live workers answered to inspect: registered task names and consumed queues."""

    registered: dict[str, tuple[str, ...]] = field(default_factory=dict)
    active_queues: dict[str, tuple[str, ...]] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_replies(cls, registered: Mapping | None, active_queues: Mapping | None) -> WorkerReport:
        """Build from ``inspect().registered()`` and ``inspect().active_queues()`` replies."""
        tasks = {
            # registered() may append "[rate_limit=...]" details after the name.
            worker: tuple(sorted(str(entry).split(" ", 1)[0] for entry in (names or ())))
            for worker, names in (registered or {}).items()
        }
        queues = {
            worker: tuple(sorted(q.get("name", "") for q in (entries or ()) if isinstance(q, dict)))
            for worker, entries in (active_queues or {}).items()
        }
        return cls(registered=tasks, active_queues=queues)

    @property
    def workers(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.registered) | set(self.active_queues)))

    def workers_having(self, task_name: str) -> tuple[str, ...]:
        return tuple(w for w, names in sorted(self.registered.items()) if task_name in names)

    def queue_names(self) -> set[str]:
        return {name for names in self.active_queues.values() for name in names if name}


def inspect_workers(
    client: redis.Redis, prefix: str, celery_app: Celery, *, timeout: float, max_age: float
) -> WorkerReport:
    """Ask live workers what they have registered and which queues they consume.

    Served from the shared inspect cache of the workers area: at most one broadcast per kind
    every ``max_age`` seconds however many pages poll, so a fresh cache answers without waiting.
    The two kinds are asked side by side, so a refresh waits one ``timeout``, not two. No answer
    (or no broker) gives an empty report, never a hang.
    """
    try:
        snapshots = inspect_many(
            client, prefix, celery_app, ("registered", "active_queues"), timeout=timeout, max_age=max_age
        )
    except Exception as exc:  # Redis or the broker down: the page says so instead of failing
        log.warning("inspect failed: %s", exc)
        return WorkerReport(error=f"workers could not be asked: {exc}")
    registered, queues = snapshots["registered"], snapshots["active_queues"]
    error = registered.error or queues.error
    if error and not (registered.replies or queues.replies):
        return WorkerReport(error=f"workers could not be asked: {error}")
    return WorkerReport.from_replies(registered.replies, queues.replies)


# --- Describing tasks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One parameter of a task's signature, as the run form shows it."""

    name: str
    kind: str  # positional_only | positional_or_keyword | var_positional | keyword_only | var_keyword
    annotation: str | None
    default: str | None  # repr of the default, None when the parameter has none
    required: bool

    @classmethod
    def from_inspect(cls, param: inspect.Parameter) -> Parameter:
        annotation = None
        if param.annotation is not inspect.Parameter.empty:
            annotation = (
                param.annotation
                if isinstance(param.annotation, str)
                else inspect.formatannotation(param.annotation)
            )
        has_default = param.default is not inspect.Parameter.empty
        variadic = param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD)
        return cls(
            name=param.name,
            kind=param.kind.name.lower(),
            annotation=annotation,
            default=_default_text(param.default) if has_default else None,
            required=not has_default and not variadic,
        )

    @property
    def display(self) -> str:
        prefix = {"var_positional": "*", "var_keyword": "**"}.get(self.kind, "")
        text = prefix + self.name
        if self.annotation:
            text += f": {self.annotation}"
        if self.default is not None:
            text += f" = {self.default}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kind": self.kind,
            "annotation": self.annotation,
            "default": self.default,
            "required": self.required,
        }


def _default_text(value: object) -> str:
    """A default as JSON when it is JSON (what the form expects), else Python's repr."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


@dataclass(frozen=True)
class TaskInfo:
    """A task as the registry shows it: the app's view merged with what workers report."""

    name: str
    summary: str
    doc: str
    parameters: tuple[Parameter, ...] | None  # None: no introspectable signature
    queue: str | None
    routing_key: str | None
    rate_limit: str | None
    soft_time_limit: float | None
    time_limit: float | None
    max_retries: int | None
    workers: tuple[str, ...]
    in_app: bool
    internal: bool
    workers_answered: bool = False

    @property
    def app_only(self) -> bool:
        """Known to the app, and workers answered but none has it (nothing flagged when none answered)."""
        return self.in_app and self.workers_answered and not self.workers

    @property
    def worker_only(self) -> bool:
        return not self.in_app

    @property
    def signature_text(self) -> str:
        if self.parameters is None:
            return "(…)"
        return "(" + ", ".join(p.display for p in self.parameters) + ")"

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "summary": self.summary,
            "doc": self.doc,
            "signature": self.signature_text,
            "parameters": None if self.parameters is None else [p.to_json() for p in self.parameters],
            "queue": self.queue,
            "routing_key": self.routing_key,
            "rate_limit": self.rate_limit,
            "soft_time_limit": self.soft_time_limit,
            "time_limit": self.time_limit,
            "max_retries": self.max_retries,
            "workers": list(self.workers),
            "in_app": self.in_app,
            "app_only": self.app_only,
            "worker_only": self.worker_only,
            "internal": self.internal,
        }

    @classmethod
    def from_task(
        cls, celery_app: Celery, task: Task, workers: tuple[str, ...], workers_answered: bool = False
    ) -> TaskInfo:
        conf = celery_app.conf
        doc = inspect.cleandoc(task.__doc__ or "") if task.__doc__ else ""
        signature = task_signature(task)
        queue, routing_key = default_route(celery_app, task.name)
        retry_kwargs = getattr(task, "retry_kwargs", None) or {}
        return cls(
            name=task.name,
            summary=doc.strip().split("\n\n", 1)[0].replace("\n", " ") if doc else "",
            doc=doc,
            parameters=None
            if signature is None
            else tuple(Parameter.from_inspect(p) for p in signature.parameters.values()),
            queue=queue,
            routing_key=routing_key,
            rate_limit=_text_or_none(task.rate_limit or conf.task_default_rate_limit),
            soft_time_limit=task.soft_time_limit or conf.task_soft_time_limit,
            time_limit=task.time_limit or conf.task_time_limit,
            max_retries=retry_kwargs.get("max_retries", task.max_retries),
            workers=workers,
            in_app=True,
            internal=task.name.startswith(INTERNAL_PREFIX),
            workers_answered=workers_answered,
        )

    @classmethod
    def from_worker_only(cls, name: str, workers: tuple[str, ...]) -> TaskInfo:
        """A task some worker has registered that the app does not know."""
        return cls(
            name=name,
            summary="",
            doc="",
            parameters=None,
            queue=None,
            routing_key=None,
            rate_limit=None,
            soft_time_limit=None,
            time_limit=None,
            max_retries=None,
            workers=workers,
            in_app=False,
            internal=name.startswith(INTERNAL_PREFIX),
            workers_answered=True,
        )


def _text_or_none(value: object) -> str | None:
    return None if value in (None, "") else str(value)


def default_route(celery_app: Celery, name: str) -> tuple[str | None, str | None]:
    """Queue and routing key Celery picks for ``name`` when no queue is given (task_routes, task.queue,
    task_default_queue), as ``send_task`` would route it with empty arguments."""
    try:
        route = celery_app.amqp.router.route({}, name, (), {})
    except Exception:  # a custom router may choke on empty arguments
        return celery_app.conf.task_default_queue, None
    queue = route.get("queue")
    if queue is None:
        return celery_app.conf.task_default_queue, route.get("routing_key")
    name_ = getattr(queue, "name", queue)
    return name_, route.get("routing_key") or getattr(queue, "routing_key", None) or None


def list_tasks(
    celery_app: Celery, report: WorkerReport, *, search: str = "", include_internal: bool = False
) -> list[TaskInfo]:
    """Every task of the app and of the answering workers, sorted by name, filtered by ``search``."""
    celery_app.loader.import_default_modules()
    app_names = set(celery_app.tasks.keys())
    worker_names = {name for names in report.registered.values() for name in names}
    needle = search.strip().lower()
    found: list[TaskInfo] = []
    for name in sorted(app_names | worker_names):
        if not include_internal and name.startswith(INTERNAL_PREFIX):
            continue
        workers = report.workers_having(name)
        if name in app_names:
            info = TaskInfo.from_task(celery_app, celery_app.tasks[name], workers, bool(report.registered))
        else:
            info = TaskInfo.from_worker_only(name, workers)
        if needle and needle not in info.name.lower() and needle not in info.summary.lower():
            continue
        found.append(info)
    return found


def describe_task(celery_app: Celery, name: str, report: WorkerReport) -> TaskInfo:
    """One task by name; a task only a worker has is described too (it cannot be run from here)."""
    celery_app.loader.import_default_modules()
    task = celery_app.tasks.get(name)
    workers = report.workers_having(name)
    if task is not None:
        return TaskInfo.from_task(celery_app, task, workers, bool(report.registered))
    if workers:
        return TaskInfo.from_worker_only(name, workers)
    raise UnknownTask(_l("unknown task '%(name)s'", name=name), field="task")


def configured_queues(celery_app: Celery) -> set[str]:
    """Queues named in the app's configuration: task_queues, task_routes, task_default_queue and
    each task's own ``queue`` attribute."""
    conf = celery_app.conf
    names = {conf.task_default_queue}
    for queue in conf.task_queues or ():
        names.add(getattr(queue, "name", queue))
    routes = conf.task_routes
    for route in routes if isinstance(routes, list | tuple) else [routes]:
        if isinstance(route, Mapping):
            for target in route.values():
                if isinstance(target, Mapping) and target.get("queue"):
                    names.add(getattr(target["queue"], "name", target["queue"]))
                elif isinstance(target, str):
                    names.add(target)
    celery_app.loader.import_default_modules()
    for task in celery_app.tasks.values():
        queue = getattr(task, "queue", None)
        if queue:
            names.add(getattr(queue, "name", queue))
    return {str(name) for name in names if name}


def known_queues(celery_app: Celery, report: WorkerReport | None = None) -> list[str]:
    """Every queue a run may target: configured ones plus those live workers consume."""
    names = configured_queues(celery_app)
    if report is not None:
        names |= report.queue_names()
    return sorted(names)


# --- Run requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    """A validated request to run a task: exactly what will be handed to ``send_task``."""

    task: str
    args: list
    kwargs: dict
    queue: str | None = None  # None: Celery's own routing decides
    countdown: float | None = None
    eta: datetime | None = None  # aware, UTC
    expires: datetime | None = None  # aware, UTC
    priority: int | None = None
    timezone: str = "UTC"  # the operator's zone, to show times back in it
    # The expiry as given in seconds (None when given as a date-time or not at all): a staged run
    # counts it from its release, as Celery counts it from sending.
    expires_after: float | None = None

    def shown(self, moment: datetime, zone: str | None = None) -> str:
        """``moment`` as the operator reads it: in their zone (or ``zone``), with the zone's name."""
        return moment.astimezone(ZoneInfo(zone or self.timezone)).strftime("%Y-%m-%d %H:%M:%S %Z")

    def send_options(self) -> dict[str, object]:
        """Keyword arguments for ``Celery.send_task`` (only those set)."""
        options: dict[str, object] = {}
        if self.queue is not None:
            options["queue"] = self.queue
        if self.countdown is not None:
            options["countdown"] = self.countdown
        if self.eta is not None:
            options["eta"] = self.eta
        if self.expires is not None:
            options["expires"] = self.expires
        if self.priority is not None:
            options["priority"] = self.priority
        return options

    def to_json(self) -> dict[str, object]:
        return {
            "task": self.task,
            "args": self.args,
            "kwargs": self.kwargs,
            "queue": self.queue,
            "countdown": self.countdown,
            "eta": self.eta.isoformat() if self.eta else None,
            "expires": self.expires.isoformat() if self.expires else None,
            "priority": self.priority,
            "timezone": self.timezone,
        }


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _reject_constant(name: str):
    raise ValueError(_l("%(name)s is not allowed in JSON", name=name))


def decode_json(text: str, field: str) -> object:
    """Parse JSON text from a field; MalformedJSON names the field and the position."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise MalformedJSON(
            _l(
                "%(field)s: not valid JSON (%(error)s); write strings in double quotes",
                field=field,
                error=reason(exc),
            ),
            field=field,
        ) from exc


def _json_value(value: object, field: str) -> object:
    """A JSON value given either decoded (API) or as JSON text (form)."""
    if isinstance(value, str):
        return decode_json(value, field)
    _check_finite(value, field)
    return value


def _check_finite(value: object, field: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise MalformedJSON(_l("%(field)s: NaN and Infinity are not JSON", field=field), field=field)
    if isinstance(value, list):
        for item in value:
            _check_finite(item, field)
    elif isinstance(value, dict):
        for item in value.values():
            _check_finite(item, field)


def _number(value: object, field: str) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise InvalidRunOption(_l("%(field)s must be a number", field=field), field=field)
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise InvalidRunOption(
                _l("%(field)s must be a number, not '%(value)s'", field=field, value=value), field=field
            ) from exc
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRunOption(_l("%(field)s must be a finite number", field=field), field=field)
    return float(value)


def _zone(value: object) -> ZoneInfo:
    name = "UTC" if _blank(value) else str(value).strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRunOption(_l("unknown time zone '%(name)s'", name=name), field="timezone") from exc


def _datetime(value: object, field: str, zone: ZoneInfo) -> datetime | None:
    """An ISO 8601 date-time; without an offset it is read in ``zone``. Returned in UTC."""
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise InvalidRunOption(_l("%(field)s must be an ISO 8601 date-time string", field=field), field=field)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidRunOption(
            _l("%(field)s: '%(value)s' is not an ISO 8601 date-time", field=field, value=value), field=field
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _arguments(task: Task, data: Mapping) -> tuple[list, dict]:
    """Positional and keyword arguments from raw ``args``/``kwargs`` or per-parameter values.

    Per-parameter values come decoded under ``params`` (API) or as JSON text under
    ``params_json`` (forms; blank fields are left out so the default applies).
    """
    per_param: dict[str, object] = {}
    for key in ("params", "params_json"):
        if not isinstance(data.get(key) or {}, Mapping):
            raise InvalidArguments(
                _l("%(field)s must be an object of parameter name to value", field=key), field=key
            )
    for name, value in (data.get("params") or {}).items():
        _check_finite(value, f"params.{name}")
        per_param[name] = value
    for name, text in (data.get("params_json") or {}).items():
        if not _blank(text):
            per_param[name] = decode_json(str(text), f"params.{name}")
    if per_param:
        if not _blank(data.get("args")) or not _blank(data.get("kwargs")):
            raise InvalidArguments(
                _l("give either per-parameter values or raw args/kwargs, not both"), field="args"
            )
        return _bind_parameters(task, per_param)
    args = [] if _blank(data.get("args")) else _json_value(data["args"], "args")
    kwargs = {} if _blank(data.get("kwargs")) else _json_value(data["kwargs"], "kwargs")
    return args, kwargs


def _given_without(name: str, gap: str):
    return _l("%(name)s is given but %(gap)s before it is not", name=name, gap=gap)


def _bind_parameters(task: Task, values: dict[str, object]) -> tuple[list, dict]:
    """Turn ``{parameter name: value}`` into args/kwargs the way a caller would write them."""
    signature = task_signature(task)
    if signature is None:
        raise InvalidArguments(
            _l("%(task)s has no readable signature: give raw args/kwargs", task=task.name), field="args"
        )
    params = list(signature.parameters.values())
    unknown = sorted(set(values) - {p.name for p in params})
    if unknown:
        raise InvalidArguments(
            _l("%(task)s has no parameter '%(name)s'", task=task.name, name=unknown[0]),
            field=f"params.{unknown[0]}",
        )
    star = next((p for p in params if p.kind is p.VAR_POSITIONAL), None)
    starstar = next((p for p in params if p.kind is p.VAR_KEYWORD), None)
    # Parameters before *args must go positionally when *args is given (and always when
    # positional-only); a gap in them cannot be expressed.
    positional_all = star is not None and star.name in values
    args: list = []
    kwargs: dict = {}
    gap: str | None = None
    for param in params:
        if param.kind is param.VAR_POSITIONAL or param.kind is param.VAR_KEYWORD:
            continue
        positional = param.kind is param.POSITIONAL_ONLY or (
            positional_all and param.kind is param.POSITIONAL_OR_KEYWORD
        )
        if positional:
            if param.name in values:
                if gap is not None:
                    raise InvalidArguments(_given_without(param.name, gap), field=f"params.{gap}")
                args.append(values[param.name])
            elif param.default is param.empty or positional_all:
                gap = gap or param.name
        elif param.name in values:
            kwargs[param.name] = values[param.name]
    if star is not None and star.name in values:
        extra = values[star.name]
        if not isinstance(extra, list):
            raise InvalidArguments(
                _l("%(field)s must be a JSON list", field=f"*{star.name}"), field=f"params.{star.name}"
            )
        if gap is not None:
            raise InvalidArguments(_given_without(f"*{star.name}", gap), field=f"params.{gap}")
        args.extend(extra)
    if starstar is not None and starstar.name in values:
        extra = values[starstar.name]
        if not isinstance(extra, dict):
            raise InvalidArguments(
                _l("%(field)s must be a JSON object", field=f"**{starstar.name}"),
                field=f"params.{starstar.name}",
            )
        clash = sorted(set(extra) & set(kwargs))
        if clash:
            raise InvalidArguments(
                _l("'%(name)s' is given twice", name=clash[0]), field=f"params.{starstar.name}"
            )
        kwargs.update(extra)
    return args, kwargs


def parse_run_request(
    data: Mapping,
    celery_app: Celery,
    *,
    max_payload_bytes: int,
    now: datetime,
    worker_queues: Callable[[], Iterable[str]] | Iterable[str] = (),
) -> RunRequest:
    """Validate a request to run a task, from a form or the JSON API; nothing is sent.

    ``data`` keys: ``task``; ``args`` (list or JSON text) and ``kwargs`` (object or JSON text), or
    ``params`` (name -> value) / ``params_json`` (name -> JSON text); ``countdown`` (seconds >= 0)
    or ``eta`` (ISO 8601; without an offset read in ``timezone``); ``expires`` (seconds from now,
    or an ISO 8601 date-time); ``queue``; ``priority`` (0-9); ``timezone`` (IANA name).
    Blank values mean "not given". ``worker_queues`` (names, or a callable giving them, asked only
    when the queue is not configured) adds the queues live workers consume.
    Raises a DashboardError subclass whose ``field`` names the offending input.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    task = require_task(celery_app, data.get("task"))
    args, kwargs = _arguments(task, data)
    check_arguments(task, args, kwargs)
    _check_payload(args, kwargs, max_payload_bytes)

    zone = _zone(data.get("timezone"))
    countdown = _number(data.get("countdown"), "countdown")
    eta = _datetime(data.get("eta"), "eta", zone)
    if countdown is not None and eta is not None:
        raise InvalidRunOption(_l("give either a countdown or an ETA, not both"), field="countdown")
    if countdown is not None and countdown < 0:
        raise InvalidRunOption(_l("countdown must not be negative"), field="countdown")
    if eta is not None and eta < now - ETA_GRACE:
        shown = eta.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")
        raise InvalidRunOption(_l("ETA %(when)s is in the past", when=shown), field="eta")
    starts = eta or now + timedelta(seconds=countdown or 0)

    expires = _expiry(data.get("expires"), zone, now)
    if expires is not None and expires <= max(now, starts):
        raise InvalidRunOption(
            _l("expires must be later than now and than the ETA/countdown (the task would never run)"),
            field="expires",
        )

    priority = _priority(data.get("priority"))
    queue = _queue(celery_app, data.get("queue"), worker_queues)
    return RunRequest(
        task=task.name,
        args=args,
        kwargs=kwargs,
        queue=queue,
        countdown=countdown,
        eta=eta,
        expires=expires,
        priority=priority,
        timezone=zone.key,
        expires_after=None if expires is None else _relative_seconds(data.get("expires")),
    )


def _relative_seconds(value: object) -> float | None:
    """``value`` as a number of seconds when it was given as one (number or numeric text)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _check_payload(args: list, kwargs: dict, limit: int) -> None:
    args_size = len(json.dumps(args).encode())
    kwargs_size = len(json.dumps(kwargs).encode())
    if args_size + kwargs_size > limit:
        raise PayloadTooLarge(
            _l(
                "arguments are %(size)s bytes of JSON, over the %(limit)s-byte limit",
                size=args_size + kwargs_size,
                limit=limit,
            ),
            field="args" if args_size >= kwargs_size else "kwargs",
        )


def _expiry(value: object, zone: ZoneInfo, now: datetime) -> datetime | None:
    if _blank(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = _number(value, "expires")
        return now + timedelta(seconds=seconds)
    if isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            return _datetime(value, "expires", zone)
        if not math.isfinite(seconds):
            raise InvalidRunOption(_l("expires must be a finite number of seconds"), field="expires")
        return now + timedelta(seconds=seconds)
    raise InvalidRunOption(_l("expires must be seconds or an ISO 8601 date-time"), field="expires")


def _priority(value: object) -> int | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise InvalidRunOption(_l("priority must be a whole number from 0 to 9"), field="priority")
    try:
        number = int(value.strip()) if isinstance(value, str) else value
    except ValueError as exc:
        raise InvalidRunOption(_l("priority must be a whole number from 0 to 9"), field="priority") from exc
    if isinstance(number, float) and number.is_integer():
        number = int(number)
    if not isinstance(number, int) or number not in PRIORITY_RANGE:
        raise InvalidRunOption(
            _l("priority must be from 0 to 9, not %(value)s", value=repr(value)), field="priority"
        )
    return number


def _queue(celery_app: Celery, value: object, worker_queues) -> str | None:
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise InvalidRunOption(_l("queue must be a queue name"), field="queue")
    name = value.strip()
    if name in configured_queues(celery_app):
        return name
    consumed = worker_queues() if callable(worker_queues) else worker_queues
    if name in set(consumed):
        return name
    raise InvalidRunOption(
        _l("unknown queue '%(name)s': not configured in the app and no live worker consumes it", name=name),
        field="queue",
    )


# --- Sending ---------------------------------------------------------------------------------


def send_run(
    celery_app: Celery,
    session: Session,
    run: RunRequest,
    *,
    origin: str = "operator",
    origin_ref: str | None = None,
    task_id: str | None = None,
) -> str:
    """Send a validated run with ``send_task`` and note it in the history; returns the task id.

    The message is sent first and then recorded: a history row never stands for a message that
    was not sent. A failure to record is logged, not raised, because the task is on its way.
    """
    task_id = task_id or str(uuid.uuid4())
    try:
        celery_app.send_task(
            run.task, args=run.args, kwargs=run.kwargs, task_id=task_id, **run.send_options()
        )
    except Exception as exc:  # kombu raises OperationalError (and others) when the broker is away
        raise BrokerUnavailable(_l("the broker did not accept the task: %(error)s", error=str(exc))) from exc
    queue = run.queue or default_route(celery_app, run.task)[0]
    _record_sent(session, task_id, run, queue, origin, origin_ref)
    return task_id


def _record_sent(
    session: Session, task_id: str, run: RunRequest, queue: str | None, origin: str, origin_ref: str | None
) -> None:
    from ..core.runs import record_sent

    for attempt in (1, 2):  # a second try finds a row the event recorder inserted meanwhile
        try:
            record_sent(
                session,
                task_id=task_id,
                name=run.task,
                args=json.dumps(run.args),
                kwargs=json.dumps(run.kwargs),
                queue=queue,
                origin=origin,
                origin_ref=origin_ref,
            )
            return
        except SQLAlchemyError as exc:
            session.rollback()
            if attempt == 2:
                log.warning("task %s was sent but not recorded in the history: %s", task_id, exc)


# --- Submission: straight to Celery, into the staging list, or "auto" -------------------------

SUBMISSIONS = ("direct", "staged", "auto")


@dataclass(frozen=True)
class Submission:
    """Where a run request went. ``task_id`` is the Celery task id either way: a staged item keeps
    it as its id and becomes that task when released."""

    task_id: str
    outcome: str  # "sent" (handed to Celery) or "staged" (waiting in the staging list)
    mode: str  # what was asked: "direct", "staged" or "auto"
    queue: str | None

    @property
    def staged(self) -> bool:
        return self.outcome == "staged"

    def to_json(self) -> dict[str, object]:
        return {"task_id": self.task_id, "outcome": self.outcome, "submission": self.mode}


def check_submission(value: object) -> str:
    """The submission mode asked for; blank means ``direct`` (run now, as before staging existed)."""
    if _blank(value):
        return "direct"
    if value not in SUBMISSIONS:
        raise InvalidRunOption(
            _l(
                "submission must be 'direct' (run now), 'staged' (put in the staging list) "
                "or 'auto' (direct when idle, staged when busy)"
            ),
            field="submission",
        )
    return str(value)


def staging_data(run: RunRequest, note: str = "") -> dict[str, object]:
    """A validated run as staging item data. Relative times (countdown, expiry in seconds) count
    from the release, as they count from sending for a direct run; an ETA or an expiry date-time
    stays absolute."""
    if run.expires_after is not None:
        expires: object = run.expires_after
    else:
        expires = run.expires.isoformat() if run.expires else None
    options = {
        "queue": run.queue,
        "priority": run.priority,
        "countdown": run.countdown,
        "eta": run.eta.isoformat() if run.eta else None,
        "expires": expires,
    }
    return {
        "task": run.task,
        "args": run.args,
        "kwargs": run.kwargs,
        "options": {name: value for name, value in options.items() if value is not None},
        "note": note or "",
    }


def submit_run(
    client: redis.Redis,
    celery_app: Celery,
    session: Session,
    prefix: str,
    run: RunRequest,
    *,
    submission: str,
    staged_by: str,
    max_bytes: int,
    note: str = "",
    broker: redis.Redis | None = None,
) -> Submission:
    """Hand a validated run to Celery (``direct``), to the staging list (``staged``), or let the
    staging service decide (``auto``: direct when the list is empty and the target queue is below
    the dispatcher's low-water mark, staged otherwise). Refused input raises before anything is
    sent or staged. ``broker`` is the broker's Redis when it is not ``client``'s server.
    """
    from ..staging import service as staging

    submission = check_submission(submission)
    if submission == "direct":
        task_id = send_run(celery_app, session, run)
        return Submission(task_id, "sent", submission, run.queue or default_route(celery_app, run.task)[0])
    item = staging.build_item(celery_app, staging_data(run, note), staged_by=staged_by, max_bytes=max_bytes)
    if submission == "staged":
        staging.stage_item(client, prefix, item)
        outcome = "staged"
    else:
        try:
            outcome = staging.submit(client, celery_app, prefix, item, mode="auto", broker=broker)
        except OperationalError as exc:
            raise BrokerUnavailable(
                _l("the broker did not accept the task: %(error)s", error=str(exc))
            ) from exc
    queue = staging.target_queue(celery_app, item)
    if outcome == "sent":
        _record_sent(session, item.id, run, queue, "operator", None)
    return Submission(item.id, outcome, submission, queue)


# --- Results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunState:
    """A run's state in the result backend, with its result cut for display."""

    task_id: str
    state: str
    ready: bool
    result: str | None
    truncated: bool

    @classmethod
    def from_backend(cls, celery_app: Celery, task_id: str, limit: int = RESULT_DISPLAY_LIMIT) -> RunState:
        result = celery_app.AsyncResult(task_id)
        state = result.state
        ready = state in ("SUCCESS", "FAILURE", "REVOKED")
        text: str | None = None
        if ready or state in ("PROGRESS", "RETRY"):
            value = result.info
            if isinstance(value, BaseException):
                text = f"{type(value).__name__}: {value}"
            elif value is not None:
                try:
                    text = json.dumps(value, ensure_ascii=False, default=repr)
                except (TypeError, ValueError):
                    text = repr(value)
        truncated = text is not None and len(text) > limit
        if truncated:
            text = text[:limit] + "…"
        return cls(task_id=task_id, state=state, ready=ready, result=text, truncated=truncated)

    def to_json(self) -> dict[str, object]:
        return {"task_id": self.task_id, "state": self.state, "ready": self.ready, "result": self.result}


def zone_names() -> list[str]:
    """IANA time zone names for the ETA zone picker, UTC first."""
    from zoneinfo import available_timezones

    return ["UTC"] + sorted(name for name in available_timezones() if name != "UTC" and "/" in name)
