"""The staging list: validated items in Redis, atomic moves, exactly-once release, the policy.

Adding to the list (stage, auto submission, move from a queue) is shared with other areas and lives
in :mod:`dashboard.core.staging`; it is re-exported here for this area's views and processes.
Usable without a request (the dispatcher process imports it): every function receives the Redis
client, the Celery app and the key prefix as arguments.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core import origins
from ..core.bounds import blank, number_between, whole_number
from ..core.broker import broker_for, layout_for, waiting
from ..core.errors import DashboardError, Unprocessable
from ..core.messages import PreparedMessage
from ..core.run_options import validate_staged
from ..core.staging import (  # noqa: F401 - the shared part of the list, re-exported for this area
    DuplicateItem,
    PayloadTooLarge,
    Policy,
    StagingItem,
    StaleStagingVersion,
    UnknownItem,
    UnknownNeighbour,
    get_policy,
    new_item,
    no_item,
    outgoing,
    refusal,
    stage_from_queue,
    stage_item,
    staged_count,
    submit,
    target_queue,
)
from .held import UnreleasableItem, hold, message_for, requeue  # noqa: F401 - requeue: views
from .keys import (
    DEFAULT_LIST,
    EDIT,
    MOVE,
    REMOVE,
    StagingKeys,
    finish_handover,
    release_items,
    release_to_processing,
)
from .models import STATES, HeldItem, ReleaseOutcome, Snapshot

MARKER_TTL = 7 * 24 * 3600  # how long a cross-server release remembers it pushed a message
POSITIONS = ("top", "bottom", "up", "down")
# Policy bounds: a low-water mark beyond any real queue's backlog; a rate whose slot (1 ms) the
# rate key's PX expiry can still hold.
MAX_LOW_WATER = 1_000_000
MAX_RATE = 1000


# ---------------------------------------------------------------- validation


def build_item(
    celery_app: Celery,
    data: dict,
    *,
    staged_by: str,
    max_bytes: int,
    item_id: str | None = None,
    staged_at: str | None = None,
    queues: Callable[[], Iterable[str]] | Iterable[str] = (),
    check_times: bool = True,
) -> StagingItem:
    """A validated item from request data; raises a 4xx DashboardError and changes nothing.

    Task, arguments and options pass the run model (``core.run_options.validate_staged``) as a
    direct run does; a countdown or an expiry in seconds stays relative (it counts from the
    release). ``queues`` and ``check_times``: see ``validate_staged``.
    """
    run = validate_staged(
        celery_app, data, max_payload_bytes=max_bytes, queues=queues, check_times=check_times
    )
    return new_item(
        run.task,
        run.args,
        run.kwargs,
        run.staged_options(),
        staged_by=staged_by,
        max_bytes=max_bytes,
        note=data.get("note") or "",
        item_id=item_id or data.get("id"),
        staged_at=staged_at,
    )


# ---------------------------------------------------------------- reading


def snapshot(client: redis.Redis, prefix: str, *, limit: int = 500, name: str = DEFAULT_LIST) -> Snapshot:
    """The first ``limit`` items head first, with the version and count read atomically."""
    keys = StagingKeys(prefix, name)
    with client.pipeline(transaction=True) as pipe:
        pipe.zrange(keys.order, 0, limit - 1)
        pipe.get(keys.version)
        pipe.zcard(keys.order)
        pipe.hgetall(keys.held)
        ids, version, total, held = pipe.execute()
    items: list[StagingItem] = []
    if ids:
        for item_id, raw in zip(ids, client.hmget(keys.items, ids), strict=True):
            if raw is None:  # released between the two reads: skip it, the next poll agrees
                continue
            try:
                items.append(StagingItem.from_json(item_id.decode(), raw))
            except (DashboardError, ValueError):
                continue  # unreadable (stored before validation): the dispatcher holds it at the head
    held_items = sorted(
        (HeldItem.from_record(item_id.decode(), raw) for item_id, raw in held.items()),
        key=lambda h: (h.held_at, h.id),
    )
    return Snapshot(items=items, version=int(version or 0), total=int(total), held=held_items[:limit])


def current_version(client: redis.Redis, prefix: str, name: str = DEFAULT_LIST) -> int:
    return int(client.get(StagingKeys(prefix, name).version) or 0)


def get_item(client: redis.Redis, prefix: str, item_id: str, name: str = DEFAULT_LIST) -> StagingItem:
    raw = client.hget(StagingKeys(prefix, name).items, item_id)
    if raw is None:
        raise UnknownItem(no_item(item_id), field="id")
    return StagingItem.from_json(item_id, raw)


# ---------------------------------------------------------------- mutations


def move(
    client: redis.Redis,
    prefix: str,
    item_id: str,
    *,
    before: str | None = None,
    after: str | None = None,
    position: str | None = None,
    version: int | None = None,
    name: str = DEFAULT_LIST,
) -> int:
    """Move an item next to a neighbour id, or to top/bottom/up/down. Returns the new version.

    ``before`` is the id the item should now precede, ``after`` the id it should follow. When both
    are given and ``before`` is gone, ``after`` is used; when every given neighbour is gone the move
    is refused with UnknownNeighbour. ``version``, when given, must be current (else 409).
    """
    if position:
        if position not in POSITIONS:
            raise Unprocessable(
                _l("position must be one of %(choices)s", choices=", ".join(POSITIONS)), field="position"
            )
        mode = position
    elif before or after:
        mode = "relative"
    else:
        raise Unprocessable(_l("give before, after or position"), field="position")
    for value, field in ((before, "before"), (after, "after")):
        if value is not None and not isinstance(value, str):
            raise Unprocessable(_l("%(field)s must be an item id", field=field), field=field)
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise Unprocessable(_l("version must be a whole number"), field="version")
    keys = StagingKeys(prefix, name)
    args = [item_id, mode, before or "", after or "", "" if version is None else str(version)]
    try:
        new_version, _changed = MOVE(client, keys=keys.core(), args=args)
    except redis.exceptions.ResponseError as exc:
        raise refusal(exc, item_id) from exc
    return int(new_version)


def remove(client: redis.Redis, prefix: str, item_id: str, name: str = DEFAULT_LIST) -> int:
    """Remove a staged (or held) item; returns the new version."""
    keys = StagingKeys(prefix, name)
    try:
        return int(REMOVE(client, keys=[*keys.core(), keys.held], args=[item_id]))
    except redis.exceptions.ResponseError as exc:
        raise refusal(exc, item_id) from exc


def edit(client: redis.Redis, prefix: str, item: StagingItem, name: str = DEFAULT_LIST) -> int:
    """Replace a staged item's data (validated with build_item), keeping its place."""
    keys = StagingKeys(prefix, name)
    try:
        return int(EDIT(client, keys=keys.core(), args=[item.id, item.to_json()]))
    except redis.exceptions.ResponseError as exc:
        raise refusal(exc, item.id) from exc


# ---------------------------------------------------------------- release


@dataclass(frozen=True)
class _Ready:
    """An item as read, the broker message it becomes and its history origin entry."""

    item: StagingItem
    raw: bytes
    message: PreparedMessage
    entry: str

    @classmethod
    def build(cls, celery_app: Celery, item_id: str, raw: bytes, sent_at: float) -> _Ready:
        """UnreleasableItem when the item has no message (see ``held``)."""
        item, message = message_for(celery_app, item_id, raw)
        sent = outgoing(item, origin="staging", origin_ref=item.id)
        return cls(item, raw, message, origins.entry(sent, message.queue, sent_at))

    def released(self, version: int) -> ReleaseOutcome:
        return ReleaseOutcome(self.item.id, True, "", version, item=self.item, queue=self.message.queue)


def _release(client, celery_app, keys, batch: list[_Ready], same_server, require_head, policy):
    """Release ``batch`` head first in one script: (the outcomes released, the first refusal)."""
    low_water, rate_ms = (policy.low_water, policy.rate_interval_ms) if policy else (0, 0)
    if same_server:
        items = [(r.item.id, r.raw, r.message, r.entry) for r in batch]
        count, version, reason = release_items(client, keys, items, require_head, low_water, rate_ms)
        return [ready.released(version) for ready in batch[:count]], reason
    ready, message = batch[0], batch[0].message  # across servers: one hand-over per script
    broker = broker_for(celery_app)
    if low_water > 0 and sum(broker.llen(key) for key in message.queue_keys) >= low_water:
        return [], "busy"
    handover = json.dumps({"list_key": message.list_key, "body": message.body})
    done, value = release_to_processing(
        client, keys, ready.item.id, handover, ready.entry, require_head=require_head, rate_ms=rate_ms
    )
    if not done:
        return [], str(value)
    finish_handover(client, broker, keys, ready.item.id, handover, MARKER_TTL)
    return [ready.released(int(value))], ""


def release(
    client: redis.Redis,
    celery_app: Celery,
    prefix: str,
    item_id: str,
    *,
    same_server: bool = True,
    require_head: bool = False,
    policy: Policy | None = None,
    name: str = DEFAULT_LIST,
) -> ReleaseOutcome:
    """Hand one item to Celery exactly once, its id becoming the task id, with its history origin
    (under ``policy``, when given, the low-water mark and maximum rate are checked in the script)."""
    keys = StagingKeys(prefix, name)
    reason = "gone"
    for _ in range(3):  # edited between the read and the script: built again from the new data
        raw = client.hget(keys.items, item_id)
        if raw is None:
            return ReleaseOutcome(item_id, False, "gone")
        ready = _Ready.build(celery_app, item_id, raw, time.time())
        done, reason = _release(client, celery_app, keys, [ready], same_server, require_head, policy)
        if done or reason != "changed":
            break
    return done[0] if done else ReleaseOutcome(item_id, False, reason)


def recover_releases(client: redis.Redis, celery_app: Celery, prefix: str, name: str = DEFAULT_LIST) -> int:
    """Finish cross-server hand-overs interrupted by a crash (run at dispatcher start-up)."""
    keys = StagingKeys(prefix, name)
    pending = client.hgetall(keys.releasing)
    if not pending:
        return 0
    broker = broker_for(celery_app)
    for item_id, handover in pending.items():
        finish_handover(client, broker, keys, item_id.decode(), handover.decode(), MARKER_TTL)
    return len(pending)


@dataclass(frozen=True)
class Releases:
    """What ``release_heads`` did: the items released head first, why it stopped short (None when
    it released all it was asked to), and the poison items held on the way."""

    released: tuple[ReleaseOutcome, ...]
    stopped: ReleaseOutcome | None
    held: tuple[str, ...]


def release_heads(
    client: redis.Redis,
    celery_app: Celery,
    prefix: str,
    *,
    limit: int = 1,
    policy: Policy | None = None,
    same_server: bool = True,
    name: str = DEFAULT_LIST,
    attempts: int = 5,
) -> Releases:
    """Release up to ``limit`` items from the head, in order, under ``policy`` when given.

    The heads go in one script, each checked (as the head, against the low-water mark and the
    rate slot) after the ones before it were released: exactly as if released one by one. Safe
    with many concurrent callers. A head whose message cannot be built is held (see ``hold``) and
    the next item tried; an unreachable Redis or broker raises, and the dispatcher tries again.
    """
    keys = StagingKeys(prefix, name)
    released: list[ReleaseOutcome] = []
    held: list[str] = []
    stopped: ReleaseOutcome | None = None
    for _ in range(attempts):
        wanted = (limit if same_server else 1) - len(released)
        if wanted <= 0:
            break
        ids = [i.decode() for i in client.zrange(keys.order, 0, wanted - 1)]
        if not ids:
            stopped = ReleaseOutcome(None, False, "empty")
            break
        sent_at, batch, poison = time.time(), [], None
        for item_id, raw in zip(ids, client.hmget(keys.items, ids), strict=True):
            if raw is None:
                break  # released or removed since the ZRANGE: the ones before it may still go
            try:
                batch.append(_Ready.build(celery_app, item_id, raw, sent_at))
            except UnreleasableItem as exc:
                poison = exc
                break
        done, reason = ([], "")
        if batch:
            done, reason = _release(client, celery_app, keys, batch, same_server, True, policy)
        released += done
        stopped = None
        if len(done) < len(batch):
            stopped = ReleaseOutcome(batch[len(done)].item.id, False, reason)
            if reason in ("busy", "rate"):
                break  # refused by the policy: the next call tries again
        elif poison is not None:  # every item before it was released: it is the head now
            if hold(client, prefix, poison, name):
                held.append(poison.item_id)
            stopped = ReleaseOutcome(poison.item_id, False, "held")
    return Releases(tuple(released), None if len(released) >= limit else stopped, tuple(held))


def release_next(
    client: redis.Redis,
    celery_app: Celery,
    prefix: str,
    *,
    policy: Policy | None = None,
    same_server: bool = True,
    name: str = DEFAULT_LIST,
    attempts: int = 5,
) -> ReleaseOutcome:
    """Release the head item (under ``policy`` when given); see ``release_heads``."""
    result = release_heads(
        client, celery_app, prefix, policy=policy, same_server=same_server, name=name, attempts=attempts
    )
    outcome = result.released[0] if result.released else result.stopped
    return replace(outcome or ReleaseOutcome(None, False, "empty"), held=result.held)


def record_release(session, outcome: ReleaseOutcome) -> bool:
    """Write a release's history row now, for a page or API answer that shows it at once: the
    same origin entry the release script appended, which the recorder folds again (idempotent)."""
    if not outcome.released or outcome.item is None:
        return False
    sent = outgoing(outcome.item, origin="staging", origin_ref=outcome.item.id)
    return origins.record_now(session, origins.entry(sent, outcome.queue, time.time()))


# ---------------------------------------------------------------- policy


def set_policy(client: redis.Redis, prefix: str, data: dict, name: str = DEFAULT_LIST) -> Policy:
    """Validate and store (part of) the dispatcher policy; returns the whole policy."""
    if not isinstance(data, dict):
        raise DashboardError(_l("the policy must be a JSON object"))
    unknown = sorted(set(data) - {"state", "low_water", "max_rate"})
    if unknown:
        raise Unprocessable(_l("unknown policy field '%(name)s'", name=unknown[0]), field=unknown[0])
    update: dict[str, str] = {}
    if "state" in data:
        if data["state"] not in STATES:
            raise Unprocessable(_l("state must be 'running' or 'paused'"), field="state")
        update["state"] = data["state"]
    if "low_water" in data:
        update["low_water"] = str(whole_number(data["low_water"], "low_water", 1, MAX_LOW_WATER))
    if "max_rate" in data:
        rate = 0.0 if blank(data["max_rate"]) else number_between(data["max_rate"], "max_rate", 0, MAX_RATE)
        update["max_rate"] = str(rate or 0)
    if update:
        client.hset(StagingKeys(prefix, name).policy, mapping=update)
    return get_policy(client, prefix, name)


# ---------------------------------------------------------------- broker


def waiting_in_queue(broker: redis.Redis, celery_app: Celery, queue: str) -> int:
    """Messages waiting in ``queue`` on the broker, over every priority step of the app's layout."""
    return waiting(broker, layout_for(celery_app), queue)
