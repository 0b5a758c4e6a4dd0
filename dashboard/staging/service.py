"""The staging list: validated items in Redis, atomic moves, exactly-once release, the policy.

Adding to the list (stage, auto submission, move from a queue) is shared with other areas and lives
in :mod:`dashboard.core.staging`; it is re-exported here for this area's views and processes.
Usable without a request (the dispatcher process imports it): every function receives the Redis
client, the Celery app and the key prefix as arguments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import replace

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core import dispatch
from ..core.bounds import blank, number_between, whole_number
from ..core.broker import broker_for, layout_for, waiting
from ..core.errors import DashboardError, Unprocessable
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
    BROKER_PUSH_ONCE,
    DEFAULT_LIST,
    EDIT,
    MOVE,
    RELEASE,
    RELEASE_TO_PROCESSING,
    REMOVE,
    StagingKeys,
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
    """Hand one item to Celery exactly once, its id becoming the task id.

    With ``policy``, the low-water mark and maximum rate are checked inside the same script.
    """
    keys = StagingKeys(prefix, name)
    raw = client.hget(keys.items, item_id)
    if raw is None:
        return ReleaseOutcome(item_id, False, "gone")
    item, prepared = message_for(celery_app, item_id, raw)
    low_water = policy.low_water if policy else 0
    rate_ms = policy.rate_interval_ms if policy else 0
    if same_server:
        events = [part for pair in prepared.events for part in pair]
        result = RELEASE(
            client,
            keys=[*keys.core(), keys.rate, prepared.list_key, *prepared.queue_keys],
            args=[item_id, prepared.body, int(require_head), max(low_water, 0), rate_ms, *events],
        )
    else:
        broker = broker_for(celery_app)
        if low_water > 0 and sum(broker.llen(key) for key in prepared.queue_keys) >= low_water:
            return ReleaseOutcome(item_id, False, "busy")
        handover = json.dumps({"list_key": prepared.list_key, "body": prepared.body})
        result = RELEASE_TO_PROCESSING(
            client,
            keys=[*keys.core(), keys.rate, keys.releasing],
            args=[item_id, handover, int(require_head), rate_ms],
        )
        if int(result[0]):
            _finish_handover(client, broker, keys, item_id, handover)
    if int(result[0]):
        return ReleaseOutcome(item_id, True, "", int(result[1]), item=item, queue=prepared.queue)
    return ReleaseOutcome(
        item_id, False, result[1].decode() if isinstance(result[1], bytes) else str(result[1])
    )


def _finish_handover(client, broker, keys: StagingKeys, item_id: str, handover: str) -> None:
    data = json.loads(handover)
    marker = f"{keys.prefix}staging:released:{item_id}"
    BROKER_PUSH_ONCE(broker, keys=[marker, data["list_key"]], args=[data["body"], MARKER_TTL])
    client.hdel(keys.releasing, item_id)


def recover_releases(client: redis.Redis, celery_app: Celery, prefix: str, name: str = DEFAULT_LIST) -> int:
    """Finish cross-server hand-overs interrupted by a crash (run at dispatcher start-up)."""
    keys = StagingKeys(prefix, name)
    pending = client.hgetall(keys.releasing)
    if not pending:
        return 0
    broker = broker_for(celery_app)
    for item_id, handover in pending.items():
        _finish_handover(client, broker, keys, item_id.decode(), handover.decode())
    return len(pending)


def head_id(client: redis.Redis, prefix: str, name: str = DEFAULT_LIST) -> str | None:
    ids = client.zrange(StagingKeys(prefix, name).order, 0, 0)
    return ids[0].decode() if ids else None


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
    """Release the head item (under ``policy`` when given). Safe with many concurrent callers.

    A head whose message cannot be built is held (see ``hold``) and the next item tried; an
    unreachable Redis or broker raises, and the dispatcher tries again.
    """
    outcome = ReleaseOutcome(None, False, "empty")
    held: list[str] = []
    for _ in range(attempts):
        item_id = head_id(client, prefix, name)
        if item_id is None:
            outcome = ReleaseOutcome(None, False, "empty")
            break
        try:
            outcome = release(
                client,
                celery_app,
                prefix,
                item_id,
                same_server=same_server,
                require_head=True,
                policy=policy,
                name=name,
            )
        except UnreleasableItem as exc:  # a poison head: set it aside, go on with the next item
            if hold(client, prefix, exc, name):
                held.append(item_id)
            outcome = ReleaseOutcome(item_id, False, "held")
            continue
        if outcome.reason not in ("gone", "not-head"):
            break  # released, or refused by policy
    return replace(outcome, held=tuple(held))


def record_release(session, outcome: ReleaseOutcome) -> bool:
    """Note a release in the history, after the atomic release (the rule of ``core.dispatch``):
    when this fails (or the process dies first) the run is still recorded by the event recorder,
    without its origin.
    """
    if not outcome.released or outcome.item is None:
        return False
    item = outcome.item
    return dispatch.record(session, outgoing(item, origin="staging", origin_ref=item.id), outcome.queue)


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
