"""The staging list: validated items in Redis, atomic moves, exactly-once release, auto submission.

Usable without a request (the dispatcher process imports it): every function receives the Redis
client, the Celery app and the key prefix as arguments.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import datetime
from urllib.parse import urlsplit

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l

from ..core.errors import DashboardError, NotFound, Unprocessable
from ..registry.service import check_arguments, require_task
from ..timeutil import utcnow
from . import messages
from .keys import DEFAULT_LIST, StagingKeys, script
from .models import OPTION_NAMES, STATES, Policy, ReleaseOutcome, Snapshot, StagingItem

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
NOTE_LIMIT = 500
MARKER_TTL = 7 * 24 * 3600  # how long a cross-server release remembers it pushed a message
POSITIONS = ("top", "bottom", "up", "down")


class UnknownItem(NotFound):
    """No staged item has that id (never staged, or already released or removed)."""


class UnknownNeighbour(Unprocessable):
    """None of the neighbour ids a move was placed against is in the list."""


class StaleStagingVersion(DashboardError):
    """The caller asked for a change against a version of the list that is no longer current."""

    status_code = 409


class PayloadTooLarge(DashboardError):
    status_code = 413


class DuplicateItem(DashboardError):
    status_code = 409


# ---------------------------------------------------------------- validation


def _number(value, field: str, *, minimum: float | None = 0) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise Unprocessable(_l("%(field)s must be a number", field=field), field=field)
    try:
        number = float(value)
    except ValueError as exc:
        raise Unprocessable(_l("%(field)s must be a number", field=field), field=field) from exc
    if number != number or (minimum is not None and number < minimum):
        raise Unprocessable(
            _l("%(field)s must be a number of at least %(minimum)s", field=field, minimum=minimum),
            field=field,
        )
    return number


def _datetime(value, field: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise Unprocessable(_l("%(field)s must be an ISO 8601 date and time", field=field), field=field)
    try:
        datetime.fromisoformat(value)
    except ValueError as exc:
        raise Unprocessable(
            _l("%(field)s must be an ISO 8601 date and time", field=field), field=field
        ) from exc
    return value


def clean_options(raw) -> dict:
    """Checked Celery options: queue, priority 0-9, countdown seconds or eta, expires."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise Unprocessable(_l("options must be a JSON object"), field="options")
    unknown = sorted(set(raw) - set(OPTION_NAMES))
    if unknown:
        raise Unprocessable(_l("unknown option '%(name)s'", name=unknown[0]), field=unknown[0])
    options: dict = {}
    queue = raw.get("queue")
    if queue not in (None, ""):
        if not isinstance(queue, str) or len(queue) > 200 or not queue.strip():
            raise Unprocessable(_l("queue must be a queue name"), field="queue")
        options["queue"] = queue.strip()
    priority = raw.get("priority")
    if priority not in (None, ""):
        try:
            priority = int(priority)
        except (TypeError, ValueError) as exc:
            raise Unprocessable(_l("priority must be a whole number from 0 to 9"), field="priority") from exc
        if not 0 <= priority <= 9:
            raise Unprocessable(_l("priority must be a whole number from 0 to 9"), field="priority")
        options["priority"] = priority
    countdown = _number(raw.get("countdown"), "countdown")
    eta = _datetime(raw.get("eta"), "eta")
    if countdown is not None and eta is not None:
        raise Unprocessable(_l("give either countdown or eta, not both"), field="eta")
    if countdown is not None:
        options["countdown"] = countdown
    if eta is not None:
        options["eta"] = eta
    expires = raw.get("expires")
    if isinstance(expires, str) and not re.fullmatch(r"[0-9.]+", expires):
        options["expires"] = _datetime(expires, "expires")
    elif expires not in (None, ""):
        options["expires"] = _number(expires, "expires")
    return options


def build_item(
    celery_app: Celery,
    data: dict,
    *,
    staged_by: str,
    max_bytes: int,
    item_id: str | None = None,
    staged_at: str | None = None,
) -> StagingItem:
    """A validated item from request data; raises a 4xx DashboardError and changes nothing."""
    if not isinstance(data, dict):
        raise DashboardError(_l("the item must be a JSON object"))
    task = require_task(celery_app, data.get("task"))
    args = data.get("args", [])
    kwargs = data.get("kwargs", {})
    check_arguments(task, args, kwargs)
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > NOTE_LIMIT:
        raise Unprocessable(
            _l("note must be text of at most %(limit)s characters", limit=NOTE_LIMIT), field="note"
        )
    item_id = item_id or data.get("id") or str(uuid.uuid4())
    if not isinstance(item_id, str) or not ID_PATTERN.match(item_id):
        raise Unprocessable(_l("id must be 1-200 letters, digits or _.:-"), field="id")
    item = StagingItem(
        id=item_id,
        task=task.name,
        args=args,
        kwargs=kwargs,
        options=clean_options(data.get("options")),
        staged_by=staged_by,
        staged_at=staged_at or utcnow().isoformat(timespec="seconds"),
        note=note,
    )
    try:
        encoded = item.to_json()
    except (TypeError, ValueError) as exc:
        raise Unprocessable(_l("arguments must be JSON: %(error)s", error=str(exc)), field="args") from exc
    if len(encoded.encode()) > max_bytes:
        raise PayloadTooLarge(
            _l("the item is larger than the %(limit)s-byte limit", limit=max_bytes), field="args"
        )
    return item


# ---------------------------------------------------------------- reading


def snapshot(client: redis.Redis, prefix: str, *, limit: int = 500, name: str = DEFAULT_LIST) -> Snapshot:
    """The first ``limit`` items head first, with the version and count read atomically."""
    keys = StagingKeys(prefix, name)
    with client.pipeline(transaction=True) as pipe:
        pipe.zrange(keys.order, 0, limit - 1)
        pipe.get(keys.version)
        pipe.zcard(keys.order)
        ids, version, total = pipe.execute()
    items: list[StagingItem] = []
    if ids:
        for item_id, raw in zip(ids, client.hmget(keys.items, ids), strict=True):
            if raw is not None:  # released between the two reads: skip it, the next poll agrees
                items.append(StagingItem.from_json(item_id.decode(), raw))
    return Snapshot(items=items, version=int(version or 0), total=int(total))


def current_version(client: redis.Redis, prefix: str, name: str = DEFAULT_LIST) -> int:
    return int(client.get(StagingKeys(prefix, name).version) or 0)


def get_item(client: redis.Redis, prefix: str, item_id: str, name: str = DEFAULT_LIST) -> StagingItem:
    raw = client.hget(StagingKeys(prefix, name).items, item_id)
    if raw is None:
        raise UnknownItem(no_item(item_id), field="id")
    return StagingItem.from_json(item_id, raw)


def staged_count(client: redis.Redis, prefix: str, name: str = DEFAULT_LIST) -> int:
    return int(client.zcard(StagingKeys(prefix, name).order))


# ---------------------------------------------------------------- mutations


def no_item(item_id: str):
    return _l("no staged item '%(id)s'", id=item_id)


def _translate(exc: redis.exceptions.ResponseError, item_id: str) -> DashboardError:
    reason = str(exc)
    if "NOID" in reason:
        return UnknownItem(no_item(item_id), field="id")
    if "NONEIGHBOUR" in reason:
        return UnknownNeighbour(_l("the neighbour is not in the staging list"), field="before")
    if "STALE" in reason:
        return StaleStagingVersion(
            _l("the staging list changed since that version; reload it"), field="version"
        )
    if "EXISTS" in reason:
        return DuplicateItem(_l("an item '%(id)s' is already staged", id=item_id), field="id")
    if "BADMODE" in reason:
        return Unprocessable(_l("unknown position"), field="position")
    raise exc


def stage_item(
    client: redis.Redis, prefix: str, item: StagingItem, *, at: str = "tail", name: str = DEFAULT_LIST
) -> int:
    """Add a validated item at the tail (or head); returns the new version."""
    if at not in ("head", "tail"):
        raise Unprocessable(_l("at must be 'head' or 'tail'"), field="at")
    keys = StagingKeys(prefix, name)
    try:
        return int(script(client, "add")(keys=keys.core(), args=[item.id, item.to_json(), at]))
    except redis.exceptions.ResponseError as exc:
        raise _translate(exc, item.id) from exc


def stage_from_queue(
    client: redis.Redis,
    prefix: str,
    item: StagingItem,
    list_key: str | bytes,
    raw: bytes,
    *,
    name: str = DEFAULT_LIST,
) -> int | None:
    """Move a waiting broker message (its exact ``raw`` bytes in ``list_key``) into the list as
    ``item`` (validated with build_item, its id the message's task id), atomically; the broker must
    be this Redis server and database. Returns the new version, or None when the message was no
    longer waiting (a worker took it first): then nothing is staged.
    """
    keys = StagingKeys(prefix, name)
    try:
        moved, version = script(client, "stage_from_queue")(
            keys=[*keys.core(), list_key], args=[item.id, item.to_json(), raw]
        )
    except redis.exceptions.ResponseError as exc:
        raise _translate(exc, item.id) from exc
    return int(version) if int(moved) else None


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
        new_version, _changed = script(client, "move")(keys=keys.core(), args=args)
    except redis.exceptions.ResponseError as exc:
        raise _translate(exc, item_id) from exc
    return int(new_version)


def remove(client: redis.Redis, prefix: str, item_id: str, name: str = DEFAULT_LIST) -> int:
    """Remove a staged item; returns the new version."""
    keys = StagingKeys(prefix, name)
    try:
        return int(script(client, "remove")(keys=keys.core(), args=[item_id]))
    except redis.exceptions.ResponseError as exc:
        raise _translate(exc, item_id) from exc


def edit(client: redis.Redis, prefix: str, item: StagingItem, name: str = DEFAULT_LIST) -> int:
    """Replace a staged item's data (validated with build_item), keeping its place."""
    keys = StagingKeys(prefix, name)
    try:
        return int(script(client, "edit")(keys=keys.core(), args=[item.id, item.to_json()]))
    except redis.exceptions.ResponseError as exc:
        raise _translate(exc, item.id) from exc


# ---------------------------------------------------------------- release


def _redis_location(url: str) -> tuple:
    parts = urlsplit(url)
    path = parts.path.strip("/") or "0"
    if parts.scheme == "unix":
        return (
            "unix",
            parts.path,
            dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p).get("db", "0"),
        )
    return (parts.hostname or "localhost", parts.port or 6379, path)


def broker_is_staging_redis(redis_url: str, broker_url: str | None) -> bool:
    """True when the Celery broker is the same Redis server and database as the staging list."""
    return not broker_url or _redis_location(redis_url) == _redis_location(broker_url)


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
    item = StagingItem.from_json(item_id, raw)
    prepared = messages.prepare(celery_app, item)
    low_water = policy.low_water if policy else 0
    rate_ms = policy.rate_interval_ms if policy else 0
    if same_server:
        events = [part for pair in prepared.events for part in pair]
        result = script(client, "release")(
            keys=[*keys.core(), keys.rate, prepared.list_key, *prepared.queue_keys],
            args=[item_id, prepared.body, int(require_head), max(low_water, 0), rate_ms, *events],
        )
    else:
        broker = broker_client(celery_app)
        if low_water > 0 and sum(broker.llen(key) for key in prepared.queue_keys) >= low_water:
            return ReleaseOutcome(item_id, False, "busy")
        handover = json.dumps({"list_key": prepared.list_key, "body": prepared.body})
        result = script(client, "release_to_processing")(
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


def broker_client(celery_app: Celery) -> redis.Redis:
    """A plain Redis client on the broker server (cross-server release only)."""
    return redis.Redis.from_url(celery_app.conf.broker_url, socket_connect_timeout=2, socket_timeout=5)


def _finish_handover(client, broker, keys: StagingKeys, item_id: str, handover: str) -> None:
    data = json.loads(handover)
    marker = f"{keys.prefix}staging:released:{item_id}"
    script(broker, "broker_push_once")(keys=[marker, data["list_key"]], args=[data["body"], MARKER_TTL])
    client.hdel(keys.releasing, item_id)


def recover_releases(client: redis.Redis, celery_app: Celery, prefix: str, name: str = DEFAULT_LIST) -> int:
    """Finish cross-server hand-overs interrupted by a crash (run at dispatcher start-up)."""
    keys = StagingKeys(prefix, name)
    pending = client.hgetall(keys.releasing)
    if not pending:
        return 0
    broker = broker_client(celery_app)
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
    """Release the head item (under ``policy`` when given). Safe with many concurrent callers."""
    outcome = ReleaseOutcome(None, False, "empty")
    for _ in range(attempts):
        item_id = head_id(client, prefix, name)
        if item_id is None:
            return ReleaseOutcome(None, False, "empty")
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
        if outcome.reason not in ("gone", "not-head"):
            return outcome  # released, or refused by policy
    return outcome


def record_release(session, outcome: ReleaseOutcome) -> bool:
    """Note a release in the history. Best effort, after the atomic release: when this fails (or
    the process dies first) the run is still recorded by the event recorder, without its origin.
    """
    from ..core.runs import record_sent

    if not outcome.released or outcome.item is None:
        return False
    item = outcome.item
    try:
        record_sent(
            session,
            task_id=item.id,
            name=item.task,
            args=json.dumps(item.args),
            kwargs=json.dumps(item.kwargs),
            queue=outcome.queue,
            origin="staging",
            origin_ref=item.id,
        )
    except Exception:
        session.rollback()
        log.exception("could not record the release of %s in the history", item.id)
        return False
    return True


# ---------------------------------------------------------------- policy


def get_policy(client: redis.Redis, prefix: str, name: str = DEFAULT_LIST) -> Policy:
    return Policy.from_hash(client.hgetall(StagingKeys(prefix, name).policy))


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
        try:
            low_water = int(data["low_water"])
        except (TypeError, ValueError) as exc:
            raise Unprocessable(
                _l("low_water must be a whole number of at least 1"), field="low_water"
            ) from exc
        if low_water < 1 or isinstance(data["low_water"], bool):
            raise Unprocessable(_l("low_water must be a whole number of at least 1"), field="low_water")
        update["low_water"] = str(low_water)
    if "max_rate" in data:
        rate = _number(data["max_rate"], "max_rate")
        update["max_rate"] = str(rate or 0)
    if update:
        client.hset(StagingKeys(prefix, name).policy, mapping=update)
    return get_policy(client, prefix, name)


# ---------------------------------------------------------------- submission


def target_queue(celery_app: Celery, item: StagingItem) -> str:
    """The queue Celery's router sends ``item`` to."""
    if item.queue:
        return item.queue
    route = celery_app.amqp.router.route({}, item.task, item.args, item.kwargs)
    queue = route.get("queue")
    return getattr(queue, "name", None) or celery_app.conf.task_default_queue


def waiting_in_queue(broker: redis.Redis, celery_app: Celery, queue: str) -> int:
    return sum(broker.llen(key) for key in messages.queue_keys(celery_app, queue))


def submit(
    client: redis.Redis,
    celery_app: Celery,
    prefix: str,
    item: StagingItem,
    *,
    mode: str = "auto",
    broker: redis.Redis | None = None,
    name: str = DEFAULT_LIST,
) -> str:
    """Submit a validated item: ``staged`` always stages it; ``auto`` sends it straight to Celery
    when the staging list is empty and its queue holds fewer than the low-water mark, else stages
    it. Returns ``"sent"`` or ``"staged"``.

    ``broker`` is the broker's Redis when it is another server than ``client``'s. On one server
    the auto decision and the push (or the staging) are one script; across two servers they
    cannot be, and the check is a read before ``send_task``.
    """
    if mode not in ("auto", "staged"):
        raise Unprocessable(_l("mode must be 'auto' or 'staged'"), field="mode")
    if mode == "auto" and broker is None:
        keys = StagingKeys(prefix, name)
        prepared = messages.prepare(celery_app, item)
        events = [part for pair in prepared.events for part in pair]
        low_water = get_policy(client, prefix, name).low_water
        try:
            outcome, _version = script(client, "submit_auto")(
                keys=[*keys.core(), prepared.list_key, *prepared.queue_keys],
                args=[item.id, item.to_json(), prepared.body, low_water, *events],
            )
        except redis.exceptions.ResponseError as exc:
            raise _translate(exc, item.id) from exc
        return outcome.decode()
    if mode == "auto" and staged_count(client, prefix, name) == 0:
        policy = get_policy(client, prefix, name)
        queue = target_queue(celery_app, item)
        if waiting_in_queue(broker, celery_app, queue) < policy.low_water:
            options = {k: v for k, v in item.options.items() if v is not None}
            options["queue"] = options.get("queue") or queue
            celery_app.send_task(item.task, args=item.args, kwargs=item.kwargs, task_id=item.id, **options)
            return "sent"
    stage_item(client, prefix, item, name=name)
    return "staged"
