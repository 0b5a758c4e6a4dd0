"""The task registry: what the managed Celery app can run, and checks on a run request."""

from __future__ import annotations

import inspect

from celery import Celery
from celery.app.task import Task

from ..errors import NotFound, Unprocessable


class UnknownTask(NotFound):
    """The managed Celery app has no task of that name."""


class InvalidArguments(Unprocessable):
    """Positional/keyword arguments that do not bind to the task's signature."""


def require_task(celery_app: Celery, name: str) -> Task:
    """The registered task called ``name``; UnknownTask when there is none."""
    celery_app.loader.import_default_modules()
    task = celery_app.tasks.get(name) if isinstance(name, str) else None
    if task is None:
        raise UnknownTask(f"unknown task {name!r}", field="task")
    return task


def check_arguments(task: Task, args: list, kwargs: dict) -> None:
    """Raise InvalidArguments (with Python's own reason) when args/kwargs do not fit the task."""
    if not isinstance(args, list):
        raise InvalidArguments("positional arguments must be a JSON list", field="args")
    if not isinstance(kwargs, dict):
        raise InvalidArguments("keyword arguments must be a JSON object", field="kwargs")
    try:
        signature = inspect.signature(task.run)
    except (TypeError, ValueError):
        return  # no introspectable signature: let the worker decide
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InvalidArguments(f"arguments do not fit {task.name}{signature}: {exc}", field="args") from exc
