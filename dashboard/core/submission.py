"""Where a run request goes: straight to Celery, into the staging list, or "auto" (decided by load).

The registry's Run form and API submit through here; the staging list's own API adds with
:func:`.staging.submit`. Every way out follows the sending rule of :mod:`.dispatch`.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from . import dispatch, staging
from .errors import Unprocessable

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
    if value is None or (isinstance(value, str) and not value.strip()):
        return "direct"
    if value not in SUBMISSIONS:
        raise Unprocessable(
            _l(
                "submission must be 'direct' (run now), 'staged' (put in the staging list) "
                "or 'auto' (direct when idle, staged when busy)"
            ),
            field="submission",
        )
    return str(value)


def submit_run(
    client: redis.Redis,
    celery_app: Celery,
    session: Session,
    prefix: str,
    *,
    submission: str,
    direct: dispatch.Outgoing,
    item: staging.StagingItem | None,
    broker: redis.Redis | None = None,
) -> Submission:
    """Send ``direct`` now (``direct``), stage ``item`` (``staged``), or let the list decide
    (``auto``: sent when the list is empty and the target queue is below the dispatcher's
    low-water mark, staged otherwise). ``item`` (the same run as a staging item, under its own
    id) is needed for ``staged`` and ``auto``. ``broker`` is the broker's Redis when it is not
    ``client``'s server. Raises BrokerUnavailable, with nothing recorded, when the broker refuses.
    """
    submission = check_submission(submission)
    if submission == "direct":
        task_id = dispatch.send(celery_app, session, direct)
        return Submission(task_id, "sent", submission, direct.queue(celery_app))
    if item is None:
        raise ValueError(f"a {submission!r} submission needs the run as a staging item")
    if submission == "staged":
        staging.stage_item(client, prefix, item)
        outcome = "staged"
    else:
        outcome = staging.submit(
            client, celery_app, session, prefix, item, mode="auto", broker=broker, origin=direct.origin
        )
    return Submission(item.id, outcome, submission, staging.target_queue(celery_app, item))
