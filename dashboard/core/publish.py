"""Publishing task messages at most once per task id, fenced by a leader lock.

A process that must not double a run (beat re-publishing what a killed beat claimed) publishes
through one script per batch on the broker's Redis. For each message the script sets a marker
``<prefix>sent:<task id>`` (kept ``MARKER_TTL`` seconds) and pushes the message only when the
marker was not there yet, so publishing a task id again is a no-op however often it is tried.

When the broker is the dashboard's own Redis server and database, the same script first checks
the caller's leader lock and fencing number (:mod:`.lock`): a holder that lost the lock while
paused publishes nothing once it wakes, and the origin entries for the history
(:mod:`.origins`) are pushed in the same atomic step. With a Redis broker elsewhere the lock is
checked just before the script and the origin entries are pushed right after it. With a broker
that is not Redis the messages go through Celery's producer: a message sent just before a crash
is sent again under the same task id (at least once), and the docs say so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import redis
from celery import Celery
from kombu.exceptions import EncodeError

from . import messages, origins, scripts
from .broker import broker_for, broker_url
from .dispatch import Outgoing, send_message
from .errors import DashboardError

log = logging.getLogger(__name__)

# What building a message raises for the message itself (never for a broker that is away: that
# propagates, and the run stays claimed).
UNBUILDABLE = (DashboardError, EncodeError, TypeError, ValueError)

MARKER_TTL = 7 * 24 * 3600  # how long a task id is remembered as published

# KEYS: lock, fencing counter, origins list, dropped-origins counter, then per message: broker
#       list, marker.
# ARGV: check fence ("1"/"0"), owner, fencing number, marker TTL, message count, then per message:
#       body, origin entry ("" for none), events as a JSON list of [channel, payload] ("" for none).
# Returns -1 when the fence check fails (nothing written), else one 1 (pushed) or 0 (already
# published earlier) per message.
PUBLISH_ONCE = scripts.register(
    "publish.once",
    origins.PUSH_LUA
    + """
if ARGV[1] == '1' then
  if redis.call('GET', KEYS[1]) ~= ARGV[2] or redis.call('GET', KEYS[2]) ~= ARGV[3] then
    return -1
  end
end
local out = {}
for i = 1, tonumber(ARGV[5]) do
  local base = 5 + 3 * (i - 1)
  if redis.call('SET', KEYS[4 + 2 * i], '1', 'EX', ARGV[4], 'NX') then
    redis.call('LPUSH', KEYS[3 + 2 * i], ARGV[base + 1])
    if ARGV[base + 2] ~= '' then push_origin(KEYS[3], KEYS[4], ARGV[base + 2]) end
    if ARGV[base + 3] ~= '' then
      for _, event in ipairs(cjson.decode(ARGV[base + 3])) do
        redis.call('PUBLISH', event[1], event[2])
      end
    end
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
""",
)


class Fenced(Exception):
    """The caller no longer holds its lock (another instance took it): nothing was published."""


@dataclass(frozen=True)
class Fence:
    """The leader lock hold a publisher must still have: key, counter key, owner, number."""

    lock_key: str
    fence_key: str
    owner: str
    number: int


def is_redis_broker(celery_app: Celery) -> bool:
    return broker_url(celery_app).startswith(("redis://", "rediss://", "unix://", "sentinel://"))


def marker_key(prefix: str, task_id: str) -> str:
    return f"{prefix}sent:{task_id}"


def publish_once(
    celery_app: Celery,
    client: redis.Redis,
    prefix: str,
    outgoing: list[Outgoing],
    *,
    fence: Fence,
    still_held,
    same_server: bool,
    origin_entries: list[str] | None = None,
) -> list[bool | None]:
    """Publish each message unless its task id was published before; True where pushed now,
    False where it had been pushed before, None where the message cannot be built (set aside).

    ``client`` is the dashboard's Redis (the lock's home); ``still_held()`` re-checks the lock
    when the script cannot (broker elsewhere). Raises :class:`Fenced` when the lock is gone,
    and ``BrokerUnavailable`` or a Redis error when the broker cannot be reached. With
    ``same_server``, ``origin_entries`` (one per message) are pushed in the script; otherwise
    the caller pushes them after this returns.
    """
    if not outgoing:
        return []
    if not same_server and not still_held():
        raise Fenced()
    if not is_redis_broker(celery_app):
        for message in outgoing:
            send_message(celery_app, message)
        return [True] * len(outgoing)
    if same_server:
        keys = [fence.lock_key, fence.fence_key, origins.origins_key(prefix), origins.dropped_key(prefix)]
    else:  # the script runs on the broker's server: the origin keys are not there
        keys = [fence.lock_key, fence.fence_key, fence.lock_key, fence.lock_key]
    args: list = ["1" if same_server else "0", fence.owner, str(fence.number), MARKER_TTL, len(outgoing)]
    entries = origin_entries if same_server and origin_entries else [""] * len(outgoing)
    built: list[int] = []  # the positions of the messages that could be built
    for position, (message, entry) in enumerate(zip(outgoing, entries, strict=True)):
        try:
            prepared = messages.prepare_outgoing(celery_app, message)
        except UNBUILDABLE:  # a message Celery cannot build: set aside, never retried
            log.exception("message %s (%s) cannot be built; set aside", message.task_id, message.task)
            continue
        built.append(position)
        keys += [prepared.list_key, marker_key(prefix, message.task_id)]
        args += [prepared.body, entry, json.dumps(prepared.events) if prepared.events else ""]
    args[4] = len(built)
    results: list[bool | None] = [None] * len(outgoing)
    if built:
        result = PUBLISH_ONCE(client if same_server else broker_for(celery_app), keys=keys, args=args)
        if result == -1:
            raise Fenced()
        for position, flag in zip(built, result, strict=True):
            results[position] = bool(int(flag))
    return results
