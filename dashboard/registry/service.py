"""Running a task from the registry: the run request (form or API), where it goes, its state.

No Flask request here: the views and the JSON API pass the Celery app and settings as
arguments. What the app and its workers can run is the catalogue's part (``catalogue.py``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import redis
from celery import Celery
from celery.app.task import Task
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..core import submission as submissions
from ..core.bounds import InvalidRunOption, blank, zone_choices  # noqa: F401 - InvalidRunOption: views
from ..core.dispatch import Outgoing, new_task_id
from ..core.json_text import check_json_value, decode_json
from ..core.run_options import RUN_OPTIONS, PayloadTooLarge, queue_checker, validate_run  # noqa: F401 - views
from ..core.staging import new_item
from ..core.submission import SUBMISSIONS, Submission, check_submission  # noqa: F401 - used by the views
from ..core.tasks import InvalidArguments, require_task, task_signature

log = logging.getLogger(__name__)

RESULT_DISPLAY_LIMIT = 2000


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


def _arguments(task: Task, data: Mapping) -> tuple[object, object]:
    """Positional and keyword arguments: raw ``args``/``kwargs`` (decoded, or JSON text that the run
    model decodes), or per-parameter values bound to the signature.

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
        check_json_value(value, f"params.{name}")
        per_param[name] = value
    for name, text in (data.get("params_json") or {}).items():
        if not blank(text):
            per_param[name] = decode_json(str(text), f"params.{name}")
    if per_param:
        if not blank(data.get("args")) or not blank(data.get("kwargs")):
            raise InvalidArguments(
                _l("give either per-parameter values or raw args/kwargs, not both"), field="args"
            )
        return _bind_parameters(task, per_param)
    return data.get("args"), data.get("kwargs")


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
    when the queue is not configured) adds the queues live workers consume. The bounds are the
    run model's (``dashboard.core.run_options``), shared with staging and schedules.
    Raises a DashboardError subclass whose ``field`` names the offending input.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    task = require_task(celery_app, data.get("task"))
    args, kwargs = _arguments(task, data)
    options = {key: data.get(key) for key in RUN_OPTIONS}
    run = validate_run(
        {"task": task.name, "args": args, "kwargs": kwargs, **options},
        task=task,
        now=now,
        max_payload_bytes=max_payload_bytes,
        queue_known=queue_checker(celery_app, worker_queues),
    )
    return RunRequest(
        task=run.task,
        args=run.args,
        kwargs=run.kwargs,
        queue=run.queue,
        countdown=run.countdown,
        eta=run.eta,
        expires=run.expires_at(now),
        priority=run.priority,
        timezone=run.timezone,
        expires_after=run.expires_after,
    )


# --- Sending, staging or "auto" -------------------------------------------------------------


def run_message(run: RunRequest, *, task_id: str | None = None) -> Outgoing:
    """A validated run as the message to send (an operator's run), under ``task_id`` or a new id."""
    return Outgoing(
        task=run.task,
        args=run.args,
        kwargs=run.kwargs,
        origin="operator",
        options=run.send_options(),
        task_id=task_id or new_task_id(),
    )


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
    list decide (``auto``: direct when the list is empty and the target queue is below the
    dispatcher's low-water mark, staged otherwise); see ``core.submission``. Refused input raises
    before anything is sent or staged; a broker that refuses raises BrokerUnavailable (503) and
    nothing is recorded. ``broker`` is the broker's Redis when it is not ``client``'s server.
    """
    submission = check_submission(submission)
    item = None
    if submission != "direct":
        data = staging_data(run, note)
        item = new_item(
            run.task,
            run.args,
            run.kwargs,
            data["options"],
            staged_by=staged_by,
            max_bytes=max_bytes,
            note=data["note"],
        )
    return submissions.submit_run(
        client,
        celery_app,
        session,
        prefix,
        submission=submission,
        direct=run_message(run, task_id=item.id if item else None),
        item=item,
        broker=broker,
    )


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
    """IANA time zone names for the ETA zone picker, UTC first (the tz database is read once)."""
    return list(zone_choices())
