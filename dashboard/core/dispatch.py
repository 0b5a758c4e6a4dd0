"""Sending a task and recording it in the history: one rule for every sender.

The message is sent first (``send_task``, with the task id chosen up front) and only a message the
broker accepted is recorded (:func:`.runs.record_sent`, with where it came from):

- the broker refuses or cannot be reached: :class:`BrokerUnavailable` (503) and no history row;
- the database fails while recording: one retry, then a warning in the log. The task is on its
  way, and the event recorder still records the run from its task events (without its origin).

Runs from the registry, history retries, schedule triggers and the staging list's auto
submission send through :func:`send`. The senders that push their messages from a Lua script
instead (a staging release, beat) note the origin in Redis in that same script
(:mod:`.origins`), and the history recorder folds those notes into history in batches; beat
publishes through :mod:`.publish` (once per task id, fenced by its lock).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l
from kombu.exceptions import KombuError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from .broker import default_route
from .errors import DashboardError
from .runs import record_sent

log = logging.getLogger(__name__)

# What ``send_task`` raises when the broker is away or refuses: kombu wraps connection errors in
# OperationalError (a KombuError); a socket or redis-py error may still surface unwrapped.
BROKER_ERRORS = (KombuError, OSError, redis.exceptions.RedisError)


class BrokerUnavailable(DashboardError):
    """The broker refused the message or could not be reached: nothing was sent or recorded."""

    status_code = 503


def new_task_id() -> str:
    """A fresh Celery task id (chosen before sending, so the record can name it)."""
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Outgoing:
    """One task message to send, and what the history notes about it once it is sent."""

    task: str
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    origin: str = "other"
    origin_ref: str | None = None
    retry_of: str | None = None
    # send_task options: queue, priority, countdown, eta, expires, headers (None means not given)
    options: Mapping[str, object] = field(default_factory=dict)
    task_id: str = field(default_factory=new_task_id)

    def queue(self, celery_app: Celery) -> str | None:
        """The queue the message goes to: the one given, else where Celery's router sends it."""
        given = self.options.get("queue")
        if given:
            return str(given)
        return default_route(celery_app, self.task, self.args, self.kwargs)[0]


def send_message(celery_app: Celery, outgoing: Outgoing, *, producer=None) -> None:
    """Hand the message to the broker; BrokerUnavailable (and nothing else done) when it refuses."""
    options = {name: value for name, value in outgoing.options.items() if value is not None}
    try:
        celery_app.send_task(
            outgoing.task,
            args=outgoing.args,
            kwargs=outgoing.kwargs,
            task_id=outgoing.task_id,
            producer=producer,
            **options,
        )
    except BROKER_ERRORS as exc:
        log.warning("the broker did not accept %s (%s): %s", outgoing.task, outgoing.task_id, exc)
        raise BrokerUnavailable(_l("the broker did not accept the task: %(error)s", error=str(exc))) from exc


def record(session: Session, outgoing: Outgoing, queue: str | None) -> bool:
    """Note a message the broker accepted in the history; False (logged) when the database failed.

    Never raises for a database error: the task is on its way whatever happens here.
    """
    for attempt in (1, 2):  # a second try also finds a row the event recorder inserted meanwhile
        try:
            record_sent(
                session,
                task_id=outgoing.task_id,
                name=outgoing.task,
                args=json.dumps(outgoing.args, default=repr),
                kwargs=json.dumps(outgoing.kwargs, default=repr),
                queue=queue,
                origin=outgoing.origin,
                origin_ref=outgoing.origin_ref,
                retry_of=outgoing.retry_of,
            )
            return True
        except SQLAlchemyError as exc:
            session.rollback()
            if attempt == 2:
                log.warning(
                    "task %s was sent but not recorded in the history (the event recorder records it "
                    "without its origin): %s",
                    outgoing.task_id,
                    exc,
                )
    return False


def send(celery_app: Celery, session: Session, outgoing: Outgoing, *, producer=None) -> str:
    """Send the message, then record it; returns the task id. See the module's rule."""
    send_message(celery_app, outgoing, producer=producer)
    record(session, outgoing, outgoing.queue(celery_app))
    return outgoing.task_id
