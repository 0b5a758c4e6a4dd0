"""Changing a queue: delete one waiting message, move one into the staging list, purge."""

from __future__ import annotations

import re

import redis
from flask_babel import lazy_gettext as _l

from ..core.broker import (
    BrokerLayout,
)
from ..core.errors import DashboardError, Unprocessable, reason
from ..core.run_options import validate_staged
from ..core.staging import new_item, stage_from_queue
from . import keys
from .models import QueueMessage, StageableMessage
from .service import QueueMessageGone

DELETE_CHUNK = 1000


# A purge names this many messages' runs to the history (DISCARDED); past it, their runs keep the
# state they had (docs/queues.md).
NAMED_ON_PURGE = 10_000


def delete_message(client: redis.Redis, layout: BrokerLayout, queue: str, key: str) -> QueueMessage:
    """Remove exactly one waiting message, by task id or by ``sha1:<hex>`` of its raw bytes.

    Raises ``QueueMessageGone`` when it is no longer waiting (a worker took it first).
    """
    if key.startswith("sha1:"):
        mode, wanted = "sha1", key[5:]
        if not re.fullmatch(r"[0-9a-f]{40}", wanted):
            raise DashboardError(_l("not a message sha1"), field="task_id")
    else:
        mode, wanted = "id", key
        if not 1 <= len(wanted) <= 255:
            raise DashboardError(_l("not a task id"), field="task_id")
    found = keys.DELETE_MESSAGE(client, keys=layout.sub_lists(queue), args=[mode, wanted, DELETE_CHUNK])
    if not found:
        raise _gone(key, queue)
    sub_key, raw = found
    step = 0
    for candidate_step, candidate in zip(layout.priority_steps, layout.sub_lists(queue), strict=True):
        if candidate.encode() == sub_key:
            step = candidate_step
    return QueueMessage.from_raw(raw, position=-1, priority_step=step)


class StagingOnOtherServer(DashboardError):
    """Moving to staging needs the broker on the staging list's own Redis server and database."""

    status_code = 409


class NotStageable(Unprocessable):
    """The message cannot become a staging item (not decodable, or staging would change it)."""


def move_to_staging(
    client: redis.Redis,
    layout: BrokerLayout,
    celery_app,
    queue: str,
    task_id: str,
    *,
    prefix: str,
    same_server: bool,
    staged_by: str,
    max_bytes: int,
):
    """Move one waiting message into the staging list, keeping its task id as the item id.

    The message is found and decoded first (read-only), checked like any staged item (known task,
    arguments that fit, size), then removed by its exact bytes and staged in one atomic script.
    Raises ``QueueMessageGone`` when a worker took it first (nothing staged),
    ``StagingOnOtherServer`` when the broker is not the staging Redis, ``NotStageable``,
    ``UnknownTask`` or ``InvalidArguments`` when it cannot be staged faithfully.
    Returns the staged item.
    """
    if not same_server:
        raise StagingOnOtherServer(
            _l(
                "moving a message to staging needs the broker on the same Redis server and database as "
                "the staging list (%(setting)s); with another broker server, delete the message and stage "
                "a new run from the task's page instead",
                setting="REDIS_URL",
            )
        )
    if not 1 <= len(task_id) <= 255 or task_id.startswith("sha1:"):
        raise DashboardError(_l("only a message with a task id can be moved to staging"), field="task_id")
    found = keys.FIND_MESSAGE(client, keys=layout.sub_lists(queue), args=["id", task_id, DELETE_CHUNK])
    if not found:
        raise _gone(task_id, queue)
    sub_key, raw = found
    try:
        message = StageableMessage.from_raw(raw)
    except ValueError as exc:
        raise NotStageable(
            _l("message %(id)s cannot be moved to staging: %(reason)s", id=task_id, reason=reason(exc)),
            field="task_id",
        ) from exc
    data = message.item_data(queue)
    run = validate_staged(
        celery_app,
        data,
        max_payload_bytes=max_bytes,
        queues=[queue],  # the queue it waits in is known, configured or not
        check_times=False,  # its ETA may have passed while it waited
    )
    item = new_item(
        run.task,
        run.args,
        run.kwargs,
        run.staged_options(),
        staged_by=staged_by,
        max_bytes=max_bytes,
        note=data["note"],
        item_id=message.task_id,
    )
    if stage_from_queue(client, prefix, item, sub_key, raw) is None:
        raise _gone(task_id, queue)
    return item


def _gone(key: str, queue: str) -> QueueMessageGone:
    return QueueMessageGone(
        _l(
            "already gone: message %(id)s is no longer waiting in %(queue)s "
            "(a worker took it or it was deleted)",
            id=key,
            queue=queue,
        )
    )


def purge_queue(client: redis.Redis, layout: BrokerLayout, queue: str) -> tuple[int, list[tuple[str, str]]]:
    """Delete every waiting message of ``queue`` (all priority sub-lists) at once: how many, and
    ``(task id, task name)`` of the first :data:`NAMED_ON_PURGE` (their runs are marked)."""
    total, found = keys.PURGE_QUEUE(client, keys=layout.sub_lists(queue), args=[NAMED_ON_PURGE])
    named = [(_text(found[i]), _text(found[i + 1])) for i in range(0, len(found), 2)]
    return int(total), named


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
