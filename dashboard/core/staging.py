"""The staging list as a store other areas add to: stage an item, submit one, move one from a queue.

What the registry (run later, "stage instead", "auto") and the queues area ("move to staging")
need from the list lives here; reordering, editing, releasing and the dispatcher policy are the
staging area's. Every function takes the Redis client, the Celery app and the key prefix as
arguments, so a request, the JSON API and the background processes call the same code.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field, replace

import redis
from celery import Celery
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..timeutil import utcnow
from . import dispatch, messages
from .broker import default_route, layout_for, waiting
from .errors import DashboardError, NotFound, Unprocessable
from .json_text import decode_bounded
from .staging_keys import ADD, DEFAULT_LIST, STAGE_FROM_QUEUE, SUBMIT_AUTO, StagingKeys

OPTION_NAMES = ("queue", "priority", "countdown", "eta", "expires")
POLICY_STATES = ("running", "paused")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
NOTE_LIMIT = 500


# ---------------------------------------------------------------- what crosses the boundary


@dataclass(frozen=True)
class StagingItem:
    """One piece of work held back from Celery. ``id`` becomes the Celery task id."""

    id: str
    task: str
    args: list
    kwargs: dict
    options: dict = field(default_factory=dict)
    staged_by: str = ""
    staged_at: str = ""
    note: str = ""

    @classmethod
    def from_json(cls, item_id: str, raw: str | bytes) -> StagingItem:
        """An item as stored; NestedTooDeep or ValueError for data no validated item has (one
        stored before validation existed, or written by hand)."""
        data = decode_bounded(raw, "item")
        return cls(
            id=item_id,
            task=data.get("task", ""),
            args=list(data.get("args") or []),
            kwargs=dict(data.get("kwargs") or {}),
            options={k: v for k, v in (data.get("options") or {}).items() if k in OPTION_NAMES},
            staged_by=data.get("staged_by") or "",
            staged_at=data.get("staged_at") or "",
            note=data.get("note") or "",
        )

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("id")
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def queue(self) -> str | None:
        return self.options.get("queue")


@dataclass(frozen=True)
class Policy:
    """How the dispatcher releases: running or paused, low-water mark, maximum releases/second."""

    state: str = "running"
    low_water: int = 1
    max_rate: float = 0.0  # releases per second over all dispatchers; 0 = no limit

    @classmethod
    def from_hash(cls, raw: dict) -> Policy:
        data = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in raw.items()
        }
        default = cls()
        state = data.get("state", default.state)
        try:
            low_water = int(data.get("low_water", default.low_water))
        except ValueError:
            low_water = default.low_water
        try:
            max_rate = float(data.get("max_rate", default.max_rate))
        except ValueError:
            max_rate = default.max_rate
        state = state if state in POLICY_STATES else default.state
        return cls(state=state, low_water=low_water, max_rate=max_rate)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def rate_interval_ms(self) -> int:
        return int(1000 / self.max_rate) if self.max_rate > 0 else 0

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------- refusals


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


def no_item(item_id: str):
    """The message for an id that is not (or no longer) staged."""
    return _l("no staged item '%(id)s'", id=item_id)


def refusal(exc: redis.exceptions.ResponseError, item_id: str) -> DashboardError:
    """The refusal a staging script's error reply stands for; re-raises any other error."""
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


# ---------------------------------------------------------------- adding


def new_item(
    task: str,
    args: list,
    kwargs: dict,
    options: dict,
    *,
    staged_by: str,
    max_bytes: int,
    note: str = "",
    item_id: str | None = None,
    staged_at: str | None = None,
) -> StagingItem:
    """An item for work whose task, arguments and options are already checked.

    Checks what the item itself adds (note, id, encoded size); raises a 4xx DashboardError.
    """
    if not isinstance(note, str) or len(note) > NOTE_LIMIT:
        raise Unprocessable(
            _l("note must be text of at most %(limit)s characters", limit=NOTE_LIMIT), field="note"
        )
    item_id = item_id or str(uuid.uuid4())
    if not isinstance(item_id, str) or not ID_PATTERN.match(item_id):
        raise Unprocessable(_l("id must be 1-200 letters, digits or _.:-"), field="id")
    item = StagingItem(
        id=item_id,
        task=task,
        args=args,
        kwargs=kwargs,
        options={name: value for name, value in options.items() if value is not None},
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


def stage_item(
    client: redis.Redis, prefix: str, item: StagingItem, *, at: str = "tail", name: str = DEFAULT_LIST
) -> int:
    """Add a validated item at the tail (or head); returns the new version."""
    if at not in ("head", "tail"):
        raise Unprocessable(_l("at must be 'head' or 'tail'"), field="at")
    keys = StagingKeys(prefix, name)
    try:
        return int(ADD(client, keys=keys.core(), args=[item.id, item.to_json(), at]))
    except redis.exceptions.ResponseError as exc:
        raise refusal(exc, item.id) from exc


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
    ``item`` (its id the message's task id), atomically; the broker must be this Redis server and
    database. Returns the new version, or None when the message was no longer waiting (a worker
    took it first): then nothing is staged.
    """
    keys = StagingKeys(prefix, name)
    try:
        moved, version = STAGE_FROM_QUEUE(
            client, keys=[*keys.core(), list_key], args=[item.id, item.to_json(), raw]
        )
    except redis.exceptions.ResponseError as exc:
        raise refusal(exc, item.id) from exc
    return int(version) if int(moved) else None


def staged_count(client: redis.Redis, prefix: str, name: str = DEFAULT_LIST) -> int:
    """How many items wait in the list."""
    return int(client.zcard(StagingKeys(prefix, name).order))


def get_policy(client: redis.Redis, prefix: str, name: str = DEFAULT_LIST) -> Policy:
    """The dispatcher policy as stored (defaults for what was never set)."""
    return Policy.from_hash(client.hgetall(StagingKeys(prefix, name).policy))


def target_queue(celery_app: Celery, item: StagingItem) -> str:
    """The queue Celery's router sends ``item`` to."""
    if item.queue:
        return item.queue
    return (
        default_route(celery_app, item.task, item.args, item.kwargs)[0] or celery_app.conf.task_default_queue
    )


def outgoing(item: StagingItem, *, origin: str, origin_ref: str | None = None) -> dispatch.Outgoing:
    """The message ``item`` becomes, under its own id, for sending or recording."""
    return dispatch.Outgoing(
        task=item.task,
        args=item.args,
        kwargs=item.kwargs,
        origin=origin,
        origin_ref=origin_ref,
        options=dict(item.options),
        task_id=item.id,
    )


def submit(
    client: redis.Redis,
    celery_app: Celery,
    session: Session,
    prefix: str,
    item: StagingItem,
    *,
    mode: str = "auto",
    broker: redis.Redis | None = None,
    origin: str = "operator",
    name: str = DEFAULT_LIST,
) -> str:
    """Submit a validated item: ``staged`` always stages it; ``auto`` sends it straight to Celery
    when the staging list is empty and its queue holds fewer than the low-water mark, else stages
    it. Returns ``"sent"`` (recorded in the history with ``origin``) or ``"staged"``.

    ``broker`` is the broker's Redis when it is another server than ``client``'s. On one server
    the auto decision and the push (or the staging) are one script; across two servers they
    cannot be, and the check is a read before sending (BrokerUnavailable when the broker refuses).
    """
    if mode not in ("auto", "staged"):
        raise Unprocessable(_l("mode must be 'auto' or 'staged'"), field="mode")
    sent = outgoing(item, origin=origin)
    if mode == "auto" and broker is None:
        keys = StagingKeys(prefix, name)
        prepared = messages.prepare(celery_app, item)
        events = [part for pair in prepared.events for part in pair]
        low_water = get_policy(client, prefix, name).low_water
        try:
            result, _version = SUBMIT_AUTO(
                client,
                keys=[*keys.core(), prepared.list_key, *prepared.queue_keys],
                args=[item.id, item.to_json(), prepared.body, low_water, *events],
            )
        except redis.exceptions.ResponseError as exc:
            raise refusal(exc, item.id) from exc
        if result.decode() == "staged":
            return "staged"
        dispatch.record(session, sent, prepared.queue)  # the script pushed it: only the record is left
        return "sent"
    if mode == "auto" and staged_count(client, prefix, name) == 0:
        queue = target_queue(celery_app, item)
        try:
            busy = waiting(broker, layout_for(celery_app), queue)
        except redis.exceptions.RedisError as exc:  # the broker server is away: nothing sent or staged
            raise dispatch.BrokerUnavailable(
                _l("the broker did not accept the task: %(error)s", error=str(exc))
            ) from exc
        if busy < get_policy(client, prefix, name).low_water:
            dispatch.send(celery_app, session, replace(sent, options={**sent.options, "queue": queue}))
            return "sent"
    stage_item(client, prefix, item, name=name)
    return "staged"
