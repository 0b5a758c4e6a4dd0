"""The task catalogue: what the managed app and its live workers can run, described for the pages."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis
from celery import Celery
from celery.app.task import Task
from flask_babel import lazy_gettext as _l

from ..core.broker import default_route
from ..core.inspect import ALIVE_WITHIN, inspect_many
from ..core.tasks import UnknownTask, task_signature

log = logging.getLogger(__name__)

INTERNAL_PREFIX = "celery."


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
    client: redis.Redis,
    prefix: str,
    celery_app: Celery,
    *,
    timeout: float,
    max_age: float,
    alive_within: float = ALIVE_WITHIN,
) -> WorkerReport:
    """Ask live workers what they have registered and which queues they consume.

    Served from the shared inspect cache (dashboard.core.inspect): at most one broadcast per kind
    every ``max_age`` seconds however many pages poll, so a fresh cache answers without waiting.
    The two kinds are asked side by side and a refresh stops once the workers seen alive within
    ``alive_within`` have answered. No answer (or no broker) gives an empty report, never a hang.
    """
    try:
        snapshots = inspect_many(
            client,
            prefix,
            celery_app,
            ("registered", "active_queues"),
            timeout=timeout,
            max_age=max_age,
            alive_within=alive_within,
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
