"""Queue contents read straight from the broker Redis, and the operator's actions on them.

No Flask request objects here: callers pass the broker client, the layout and the Celery app.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Iterable

import redis
from flask_babel import lazy_gettext as _l
from kombu.exceptions import OperationalError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..core.bounds import whole_number
from ..core.broker import (
    BrokerLayout,
    bindings,
    configured_queues,
    layout_for,  # noqa: F401 - part of this module's interface (bench/)
)
from ..core.errors import DashboardError, NotFound
from ..core.inspect import ALIVE_WITHIN, inspect_many
from ..core.json_text import decode_json
from ..core.runs import TaskRun
from ..timeutil import as_utc
from . import keys
from .models import HeldMessage, InspectedRequest, MessagePage, QueueMessage, QueueSummary

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_LIST_LENGTH = 2**32 - 1  # the most elements a Redis list holds: no position or offset lies beyond
ANCHOR_WINDOW = 1000  # elements searched to re-find the previous page's last message
HELD_SCAN_LIMIT = 2000  # unacked entries examined per request
QUEUE_NAME = re.compile(r"^[^\x00-\x1f]{1,255}$")


class QueueMessageGone(NotFound):
    """The message is no longer waiting: a worker took it (or someone deleted it) first."""


def check_queue_name(name: str) -> str:
    if not QUEUE_NAME.match(name or ""):
        raise DashboardError(_l("a queue name is 1 to 255 printable characters"), field="name")
    return name


# --- workers (the shared, Redis-cached inspect of the workers area) ----------------------------


def inspect_workers(
    client: redis.Redis,
    prefix: str,
    celery_app,
    *methods: str,
    timeout: float,
    max_age: float,
    alive_within: float = ALIVE_WITHIN,
) -> dict[str, dict[str, list]]:
    """Inspect broadcasts (``active_queues``, ``reserved``, ``scheduled``): method -> worker -> replies.

    Answers come from the shared inspect cache (at most one broadcast per kind every ``max_age``
    seconds across every page and process); several methods are asked side by side.
    An empty dict for a method means no worker answered (or the broker or Redis is away).
    """
    try:
        snapshots = inspect_many(
            client, prefix, celery_app, methods, timeout=timeout, max_age=max_age, alive_within=alive_within
        )
    except (OperationalError, OSError, redis.RedisError):
        return {method: {} for method in methods}  # the page says so through its own Redis reads
    return {
        method: {worker: list(items or []) for worker, items in snapshots[method].replies.items()}
        for method in methods
    }


def consumers_by_queue(active_queues: dict[str, list]) -> dict[str, list[str]]:
    consumers: dict[str, list[str]] = {}
    for worker, queues in active_queues.items():
        for queue in queues:
            name = queue.get("name") if isinstance(queue, dict) else None
            if name:
                consumers.setdefault(name, []).append(worker)
    return {name: sorted(workers) for name, workers in consumers.items()}


# --- discovery and summaries ---------------------------------------------------------------------


def list_queues(
    client: redis.Redis,
    layout: BrokerLayout,
    celery_app,
    active_queues: dict[str, list],
    session: Session | None = None,
) -> list[QueueSummary]:
    """Every known queue with its length, consumers and (where knowable) its oldest message's age."""
    sources: dict[str, list[str]] = {}
    for name in bindings(client, layout):
        sources.setdefault(name, []).append("bindings")
    for name in configured_queues(celery_app):
        if "config" not in sources.setdefault(name, []):
            sources[name].append("config")
    consumers = consumers_by_queue(active_queues)
    for name in consumers:
        sources.setdefault(name, []).append("workers")
    names = sorted(sources)
    steps = layout.priority_steps
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for key in layout.sub_lists(name):
                pipe.llen(key)
                pipe.lindex(key, -1)
        replies = pipe.execute()
    per_queue = len(steps) * 2
    heads: dict[str, list[QueueMessage]] = {}
    lengths: dict[str, dict[int, int]] = {}
    for i, name in enumerate(names):
        chunk = replies[i * per_queue : (i + 1) * per_queue]
        lengths[name] = {step: int(chunk[2 * j] or 0) for j, step in enumerate(steps)}
        heads[name] = [
            QueueMessage.from_raw(raw, position=0, priority_step=step)
            for step, raw in zip(steps, chunk[1::2], strict=True)
            if raw is not None
        ]
    sent = _history_sent_times(session, [m.task_id for ms in heads.values() for m in ms if m.task_id])
    now = time.time()
    summaries = []
    for name in names:
        age, source = _oldest_age(heads[name], sent, now)
        summaries.append(
            QueueSummary(
                name=name,
                length=sum(lengths[name].values()),
                lengths=lengths[name],
                sources=tuple(sources[name]),
                consumers=tuple(consumers.get(name, ())),
                oldest_age=age,
                oldest_age_source=source,
            )
        )
    return summaries


def _history_sent_times(session: Session | None, task_ids: list[str]) -> dict[str, float]:
    """When the history recorded these tasks as sent (task-sent events or the dashboard itself)."""
    if session is None or not task_ids:
        return {}
    rows = session.execute(
        select(TaskRun.task_id, TaskRun.sent_at).where(
            TaskRun.task_id.in_(task_ids), TaskRun.sent_at.is_not(None)
        )
    )
    return {task_id: as_utc(sent_at).timestamp() for task_id, sent_at in rows}


def _oldest_age(
    heads: Iterable[QueueMessage], sent: dict[str, float], now: float
) -> tuple[float | None, str | None]:
    """The age of the longest-waiting head of the sub-lists, when any head's send time is known.

    Each sub-list's right end is its oldest message (kombu pushes on the left), so the oldest
    message of the queue is one of the heads.
    """
    best: tuple[float, str] | None = None
    for message in heads:
        if message.sent_at:
            candidate = (message.sent_at, "message")
        elif message.task_id and message.task_id in sent:
            candidate = (sent[message.task_id], "history")
        else:
            continue
        if best is None or candidate[0] < best[0]:
            best = candidate
    if best is None:
        return None, None
    return max(0.0, now - best[0]), best[1]


# --- paging --------------------------------------------------------------------------------------


def encode_cursor(sub_index: int, offset: int, sha1: str) -> str:
    raw = json.dumps({"s": sub_index, "o": offset, "h": sha1}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sub_lists: int) -> tuple[int, int, str]:
    """(1-based sub-list index, offset from the right end, sha1) of the previous page's last message.

    A cursor comes back from the client, so it is decoded as operator input: the one bounded
    decoder, and an offset no Redis list can reach is refused like any other bad cursor.
    """
    invalid = DashboardError(_l("the cursor is not valid"), field="cursor")
    if len(cursor) > 200:  # a real cursor is about 100 characters
        raise invalid
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = decode_json(base64.urlsafe_b64decode(padded.encode()), "cursor")
        sub = whole_number(data["s"], "cursor", 1, sub_lists)
        offset = whole_number(data["o"], "cursor", 0, MAX_LIST_LENGTH)
        sha1 = data["h"]
    except (DashboardError, ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise invalid from exc
    if not (isinstance(sha1, str) and re.fullmatch(r"[0-9a-f]{40}", sha1)):
        raise invalid
    return sub, offset, sha1


def read_page(
    client: redis.Redis,
    layout: BrokerLayout,
    queue: str,
    *,
    limit: int = DEFAULT_LIMIT,
    position: int = 0,
    cursor: str | None = None,
) -> MessagePage:
    """Messages waiting in ``queue``, next to run first, from ``position`` or after ``cursor``.

    Redis work is O(page): LLEN per priority sub-list and LRANGE of only the slice shown.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise DashboardError(_l("limit must be between 1 and %(limit)s", limit=MAX_LIMIT), field="limit")
    position = whole_number(position, "position", 0, MAX_LIST_LENGTH, DashboardError)
    sub_lists = layout.sub_lists(queue)
    if cursor:
        sub, offset, sha1 = decode_cursor(cursor, len(sub_lists))
        args = ["after", sub, offset, limit, ANCHOR_WINDOW, sha1]
    else:
        args = ["pos", position, 0, limit, ANCHOR_WINDOW, ""]
    lengths_raw, start, flat = keys.READ_PAGE(client, keys=sub_lists, args=args)
    steps = layout.priority_steps
    lengths = {step: int(n) for step, n in zip(steps, lengths_raw, strict=True)}
    messages = []
    last: tuple[int, int, str] | None = None
    for i in range(0, len(flat), 3):
        sub, offset, raw = int(flat[i]), int(flat[i + 1]), flat[i + 2]
        message = QueueMessage.from_raw(raw, position=int(start) + i // 3, priority_step=steps[sub - 1])
        messages.append(message)
        last = (sub, offset, message.sha1)
    total = sum(lengths.values())
    next_cursor = None
    if last and int(start) + len(messages) < total:
        next_cursor = encode_cursor(*last)
    return MessagePage(
        queue=queue,
        total=total,
        lengths=lengths,
        start=int(start),
        limit=limit,
        messages=messages,
        next_cursor=next_cursor,
    )


def naive_read_all(client: redis.Redis, layout: BrokerLayout, queue: str) -> list[QueueMessage]:
    """The whole queue decoded: LRANGE 0 -1 of every sub-list (the benchmark's baseline only)."""
    messages: list[QueueMessage] = []
    for step, key in zip(layout.priority_steps, layout.sub_lists(queue), strict=True):
        for raw in reversed(client.lrange(key, 0, -1)):
            messages.append(QueueMessage.from_raw(raw, position=len(messages), priority_step=step))
    return messages


# --- held by workers -----------------------------------------------------------------------------


def held_messages(
    client: redis.Redis,
    layout: BrokerLayout,
    queue: str,
    queue_bindings: set[tuple[str, str]],
    inspected: list[InspectedRequest],
) -> tuple[list[HeldMessage], bool]:
    """Messages of ``queue`` that workers took but have not acknowledged, and whether the scan was cut.

    kombu keeps each in its ``unacked`` hash (delivery tag -> [message, exchange, routing key]) and
    the time it was taken in ``unacked_index``; inspect tells which worker holds it and why.
    """
    routes = set(queue_bindings) | {("", queue), (queue, queue)}
    by_id = {item.task_id: item for item in inspected if item.task_id}
    held: list[HeldMessage] = []
    truncated = False
    entries: list[tuple[bytes, bytes]] = []
    for scanned, (tag, value) in enumerate(client.hscan_iter(layout.unacked, count=500), start=1):
        if scanned > HELD_SCAN_LIMIT:
            truncated = True
            break
        entries.append((tag, value))
    since = {}
    if entries:
        scores = client.zmscore(layout.unacked_index, [tag for tag, _ in entries])
        since = {tag: score for (tag, _), score in zip(entries, scores, strict=True)}
    for tag, value in entries:
        item = HeldMessage.from_unacked(value, since.get(tag))
        route = (item.exchange or "", item.routing_key or "")
        if route not in routes and item.routing_key != queue:
            continue
        report = by_id.pop(item.message.task_id, None) if item.message.task_id else None
        if report is not None:
            item = HeldMessage(
                message=item.message,
                worker=report.worker,
                state=report.state,
                held_since=item.held_since,
                exchange=item.exchange,
                routing_key=item.routing_key,
                eta=report.eta,
            )
        held.append(item)
    held.sort(key=lambda h: h.held_since or 0)
    return held, truncated


def inspected_requests(reserved: dict[str, list], scheduled: dict[str, list]) -> list[InspectedRequest]:
    requests = []
    for state, replies in (("reserved", reserved), ("scheduled", scheduled)):
        for worker, items in replies.items():
            requests.extend(InspectedRequest.from_reply(worker, state, item) for item in items)
    return requests
