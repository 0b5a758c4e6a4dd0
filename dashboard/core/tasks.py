"""The managed app's tasks as a run needs them: look one up, read its signature, bind arguments.

Every area that starts work (the registry's Run form and API, the staging list, schedules) checks
a task and its arguments here, so a call refused by one is refused by all.
"""

from __future__ import annotations

import inspect

from celery import Celery
from celery.app.task import Task
from flask_babel import lazy_gettext as _l

from .errors import NotFound, Unprocessable


class UnknownTask(NotFound):
    """The managed Celery app has no task of that name."""


class InvalidArguments(Unprocessable):
    """Positional/keyword arguments that do not bind to the task's signature."""


def require_task(celery_app: Celery, name: object) -> Task:
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
