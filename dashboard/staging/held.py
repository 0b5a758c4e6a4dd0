"""Poison items: a staged item whose broker message cannot be built is set aside ("held").

The dispatcher releases the head first, so an item that can never be released (data no validated
item has, e.g. ``countdown: 1e30`` stored before validation existed; a task no longer registered;
options Celery refuses) would otherwise be retried at the head forever, blocking everything
behind it. ``release_next`` holds such a head (one script: out of the list, into the held hash
with the reason and time, version bumped) and goes on; an operator returns it to the tail or
removes it. An unreachable Redis or broker is not the item's fault: it raises, and is retried.
"""

from __future__ import annotations

import json

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l
from kombu.exceptions import OperationalError

from ..core import messages
from ..core.errors import Unprocessable, reason
from ..core.messages import PreparedMessage
from ..core.staging import StagingItem, refusal
from ..core.tasks import require_task
from ..timeutil import utcnow
from .keys import DEFAULT_LIST, HOLD, REQUEUE, StagingKeys


class UnreleasableItem(Unprocessable):
    """The item's broker message cannot be built (data no validated item has, a task no longer
    registered, options Celery refuses): trying again cannot help, unlike an unreachable Redis."""

    def __init__(self, message, *, item_id: str, raw: bytes):
        super().__init__(message, field="id")
        self.item_id, self.raw = item_id, raw


# What may fail while a message is built that says nothing about the item: the servers are away.
TRANSIENT = (redis.exceptions.RedisError, OperationalError, OSError)


def message_for(celery_app: Celery, item_id: str, raw: bytes) -> tuple[StagingItem, PreparedMessage]:
    """The item stored as ``raw`` and the broker message it becomes; UnreleasableItem when it has none."""
    try:
        item = StagingItem.from_json(item_id, raw)
        require_task(celery_app, item.task)
        return item, messages.prepare(celery_app, item)
    except TRANSIENT:
        raise
    except Exception as exc:  # building a message touches nothing else: whatever failed is the item's
        raise UnreleasableItem(
            _l("cannot be released: %(reason)s", reason=reason(exc) or type(exc).__name__),
            item_id=item_id,
            raw=raw,
        ) from exc


def hold(client: redis.Redis, prefix: str, exc: UnreleasableItem, name: str = DEFAULT_LIST) -> bool:
    """Set the item ``exc`` is about aside, with its reason, if it is still staged as it was read."""
    keys = StagingKeys(prefix, name)
    data = exc.raw.decode("utf-8", "replace") if isinstance(exc.raw, bytes) else exc.raw
    record = json.dumps(
        {"item": data, "reason": exc.english, "held_at": utcnow().isoformat(timespec="seconds")}
    )
    held, _version = HOLD(client, keys=[*keys.core(), keys.held], args=[exc.item_id, exc.raw, record])
    return bool(int(held))


def requeue(client: redis.Redis, prefix: str, item_id: str, name: str = DEFAULT_LIST) -> int:
    """Return a held item to the tail of the list, as it was staged; returns the new version."""
    keys = StagingKeys(prefix, name)
    try:
        return int(REQUEUE(client, keys=[*keys.core(), keys.held], args=[item_id]))
    except redis.exceptions.ResponseError as exc:
        raise refusal(exc, item_id) from exc
