"""The Lua scripts that reorder, edit and release the staging list (the staging area's own).

The key layout (re-exported here) and the scripts other areas use to add to the list (add, auto
submission, move from a broker queue) are in :mod:`dashboard.core.staging_keys`. Every script is
declared once in the registry of :mod:`dashboard.core.scripts` and called by name.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import redis

from ..core import origins, scripts
from ..core.staging_keys import DEFAULT_LIST, GAP, PLACEMENT, StagingKeys

if TYPE_CHECKING:
    from ..core.messages import PreparedMessage

__all__ = [
    "BROKER_PUSH_ONCE",
    "DEFAULT_LIST",
    "EDIT",
    "GAP",
    "HOLD",
    "MOVE",
    "RELEASE",
    "RELEASE_TO_PROCESSING",
    "REMOVE",
    "REQUEUE",
    "StagingKeys",
    "finish_handover",
    "release_items",
    "release_to_processing",
]

# Guarantee: only the moved item's score changes; every other item keeps its relative order, no
# item is lost or duplicated. Placement is relative to a neighbour id, so concurrent changes
# elsewhere in the list cannot misplace it. Refused (list unchanged) when the item is not staged,
# when no given neighbour is staged, or when ARGV[5] (expected version) is set and differs.
# KEYS: order, items, version.
# ARGV: id, mode ('relative'|'top'|'bottom'|'up'|'down'), before id, after id, expected version.
# Relative mode: 'before' (the item's new next sibling) is used when it is staged, else 'after'
# (its new previous sibling). Returns {version, changed(0/1)}.
MOVE = scripts.register(
    "staging.move",
    PLACEMENT
    + """
local order, items, version = KEYS[1], KEYS[2], KEYS[3]
local id, mode, before, after, expected = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if expected ~= '' and tostring(redis.call('GET', version) or '0') ~= expected then
  return redis.error_reply('STALE')
end
local rank = redis.call('ZRANK', order, id)
if not rank then return redis.error_reply('NOID') end
local anchor, side
if mode == 'relative' then
  if before ~= '' and before ~= id and redis.call('ZSCORE', order, before) then
    anchor, side = before, 'before'
  elseif after ~= '' and after ~= id and redis.call('ZSCORE', order, after) then
    anchor, side = after, 'after'
  else
    return redis.error_reply('NONEIGHBOUR')
  end
elseif mode == 'up' then
  if rank == 0 then return {tonumber(redis.call('GET', version) or '0'), 0} end
  anchor, side = redis.call('ZRANGE', order, rank - 1, rank - 1)[1], 'before'
elseif mode == 'down' then
  local nxt = redis.call('ZRANGE', order, rank + 1, rank + 1)
  if #nxt == 0 then return {tonumber(redis.call('GET', version) or '0'), 0} end
  anchor, side = nxt[1], 'after'
elseif mode == 'top' or mode == 'bottom' then
  local edge = redis.call('ZRANGE', order, mode == 'top' and 0 or -1, mode == 'top' and 0 or -1)
  if edge[1] == id then return {tonumber(redis.call('GET', version) or '0'), 0} end
else
  return redis.error_reply('BADMODE')
end
redis.call('ZREM', order, id)
local score
if anchor then
  score = score_beside(order, anchor, side)
else
  score = edge_score(order, mode == 'top')
end
redis.call('ZADD', order, fmt(score), id)
return {redis.call('INCR', version), 1}
""",
)

# Guarantee: a staged item's data and position disappear together, or a held item leaves the
# held hash; otherwise nothing changes (unknown id). KEYS: order, items, version, held.
# ARGV: id. Returns the new version.
REMOVE = scripts.register(
    "staging.remove",
    """
local order, items, version, held = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
if redis.call('ZREM', order, id) == 1 then
  redis.call('HDEL', items, id)
elseif redis.call('HDEL', held, id) == 0 then
  return redis.error_reply('NOID')
end
return redis.call('INCR', version)
""",
)

# Set a poison item aside. Guarantee: only the item exactly as the caller read it (ARGV[2]) is
# held: it leaves the order and the items and enters the held hash together, and the version
# moves on; an item released, removed or edited meanwhile is left alone ({0, 'changed'}).
# KEYS: order, items, version, held. ARGV: id, item JSON as read, held record JSON.
# Returns {1, version} or {0, 'changed'}.
HOLD = scripts.register(
    "staging.hold",
    """
local order, items, version, held = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, expected, record = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', items, id) ~= expected or not redis.call('ZSCORE', order, id) then
  return {0, 'changed'}
end
redis.call('ZREM', order, id)
redis.call('HDEL', items, id)
redis.call('HSET', held, id, record)
return {1, redis.call('INCR', version)}
""",
)

# Return a held item to the list. Guarantee: it leaves the held hash and enters the list at the
# tail (data and position together, exactly as it was staged) in one step, or nothing changes:
# NOID when it is not held, EXISTS when an item of that id was staged meanwhile.
# KEYS: order, items, version, held. ARGV: id. Returns the new version.
REQUEUE = scripts.register(
    "staging.requeue",
    PLACEMENT
    + """
local order, items, version, held = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id = ARGV[1]
local record = redis.call('HGET', held, id)
if not record then return redis.error_reply('NOID') end
if redis.call('HEXISTS', items, id) == 1 or redis.call('ZSCORE', order, id) then
  return redis.error_reply('EXISTS')
end
local data = cjson.decode(record)['item']
redis.call('HSET', items, id, data)
redis.call('ZADD', order, fmt(edge_score(order, false)), id)
redis.call('HDEL', held, id)
return redis.call('INCR', version)
""",
)

# Guarantee: only a staged item's data is replaced (an item released or removed meanwhile is
# not resurrected); its position is kept. KEYS: order, items, version. ARGV: id, item JSON.
EDIT = scripts.register(
    "staging.edit",
    """
local order, items, version = KEYS[1], KEYS[2], KEYS[3]
if not redis.call('ZSCORE', order, ARGV[1]) then return redis.error_reply('NOID') end
redis.call('HSET', items, ARGV[1], ARGV[2])
return redis.call('INCR', version)
""",
)

# Release into broker lists on the SAME Redis server, one or more items head first.
# Guarantee: exactly once. For each item in turn, the check that it is still staged (for the
# dispatcher: still the head; its queue below the low-water mark; a rate slot free), that its
# data is still what the message was built from, its removal, the LPUSH of the prepared Celery
# message, the task-sent event and the history's origin entry (``core.origins``) happen in this
# one script. Whichever process runs it, and whenever any process dies, an item is either still
# staged or in the broker list with its origin entry, never both and never neither, and only one
# caller wins. The first item refused stops the script; the items after it stay staged. Each item
# is checked after the ones before it were released, so the low-water mark counts the messages
# this call pushed, and under a rate limit only the first item can take the slot.
# KEYS: order, items, version, rate, origins, origins dropped, then per item: its target list
#       and every priority sub-list of its queue (counted for the low-water mark).
# ARGV: require head (0/1), low-water (0 = no check), rate slot ms (0 = none), item count, then
#       per item: id, item JSON as read, message JSON, origin entry, sub-list count, event
#       count, then pairs of (event channel, event payload) to PUBLISH (Celery's task-sent event).
# Returns {released count, version, reason}: reason is '' when every item was released, else why
# the first refused one was not: gone, not-head, changed, busy, rate.
RELEASE = scripts.register(
    "staging.release",
    origins.PUSH_LUA
    + """
local order, items, version, rate = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local origins, dropped = KEYS[5], KEYS[6]
local require_head, low_water, rate_ms = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local a, k, released, reason = 5, 7, 0, ''
for _ = 1, tonumber(ARGV[4]) do
  local id, raw, message, entry = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local sublists, events = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  if not redis.call('ZSCORE', order, id) then reason = 'gone'; break end
  if require_head and redis.call('ZRANGE', order, 0, 0)[1] ~= id then reason = 'not-head'; break end
  if redis.call('HGET', items, id) ~= raw then reason = 'changed'; break end
  if low_water > 0 then
    local waiting = 0
    for i = k + 1, k + sublists do waiting = waiting + redis.call('LLEN', KEYS[i]) end
    if waiting >= low_water then reason = 'busy'; break end
  end
  if rate_ms > 0 and not redis.call('SET', rate, '1', 'PX', rate_ms, 'NX') then reason = 'rate'; break end
  redis.call('ZREM', order, id)
  redis.call('HDEL', items, id)
  redis.call('LPUSH', KEYS[k], message)
  for i = a + 6, a + 5 + 2 * events, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
  push_origin(origins, dropped, entry)
  released = released + 1
  a, k = a + 6 + 2 * events, k + 1 + sublists
end
local current
if released > 0 then
  current = redis.call('INCRBY', version, released)
else
  current = tonumber(redis.call('GET', version) or '0')
end
return {released, current, reason}
""",
)

# Release when the broker is ANOTHER Redis server, step 1 (on the staging server). Guarantee:
# the item leaves the list and enters the processing hash together with its history origin entry
# (``core.origins``), once; whoever replays the processing hash (any dispatcher at start-up)
# finishes the hand-over. KEYS: order, items, version, rate, releasing, origins, origins dropped.
# ARGV: id, hand-over JSON, require head, rate ms, origin entry. Returns {1, version} or {0, reason}.
RELEASE_TO_PROCESSING = scripts.register(
    "staging.release_to_processing",
    origins.PUSH_LUA
    + """
local order, items, version, rate, releasing = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, handover, require_head, rate_ms = ARGV[1], ARGV[2], ARGV[3] == '1', tonumber(ARGV[4])
if not redis.call('ZSCORE', order, id) then return {0, 'gone'} end
if require_head and redis.call('ZRANGE', order, 0, 0)[1] ~= id then return {0, 'not-head'} end
if rate_ms > 0 and not redis.call('SET', rate, '1', 'PX', rate_ms, 'NX') then
  return {0, 'rate'}
end
redis.call('ZREM', order, id)
redis.call('HDEL', items, id)
redis.call('HSET', releasing, id, handover)
push_origin(KEYS[6], KEYS[7], ARGV[5])
return {1, redis.call('INCR', version)}
""",
)

# Step 2, on the BROKER server. Guarantee: the message is pushed at most once per marker; a
# replay after a crash finds the marker and pushes nothing. KEYS: marker, target list.
# ARGV: message, marker TTL seconds. Returns 1 when pushed now, 0 when it was pushed before.
BROKER_PUSH_ONCE = scripts.register(
    "staging.broker_push_once",
    """
if redis.call('SET', KEYS[1], '1', 'EX', ARGV[2], 'NX') then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
""",
)


def release_items(
    client: redis.Redis,
    keys: StagingKeys,
    batch: Sequence[tuple[str, bytes, PreparedMessage, str]],
    require_head: bool,
    low_water: int,
    rate_ms: int,
) -> tuple[int, int, str]:
    """Run RELEASE for ``batch`` (id, item JSON as read, its message, its origin entry), head
    first; returns (released count, version, reason the first refused item was refused)."""
    script_keys = [
        *keys.core(),
        keys.rate,
        origins.origins_key(keys.prefix),
        origins.dropped_key(keys.prefix),
    ]
    args: list = [int(require_head), max(low_water, 0), rate_ms, len(batch)]
    for item_id, raw, message, entry in batch:
        script_keys += [message.list_key, *message.queue_keys]
        args += [item_id, raw, message.body, entry, len(message.queue_keys), len(message.events)]
        args += [part for pair in message.events for part in pair]
    count, version, reason = RELEASE(client, keys=script_keys, args=args)
    return int(count), int(version), reason.decode() if isinstance(reason, bytes) else str(reason)


def release_to_processing(
    client: redis.Redis,
    keys: StagingKeys,
    item_id: str,
    handover: str,
    entry: str,
    *,
    require_head: bool,
    rate_ms: int,
) -> tuple[bool, int | str]:
    """Run RELEASE_TO_PROCESSING; returns (True, version) or (False, reason)."""
    script_keys = [*keys.core(), keys.rate, keys.releasing]
    script_keys += [origins.origins_key(keys.prefix), origins.dropped_key(keys.prefix)]
    done, value = RELEASE_TO_PROCESSING(
        client, keys=script_keys, args=[item_id, handover, int(require_head), rate_ms, entry]
    )
    if int(done):
        return True, int(value)
    return False, value.decode() if isinstance(value, bytes) else str(value)


def finish_handover(
    client: redis.Redis, broker: redis.Redis, keys: StagingKeys, item_id: str, handover: str, ttl: int
) -> None:
    """Cross-server release steps 2 and 3: push once to the broker (BROKER_PUSH_ONCE, its marker
    kept ``ttl`` seconds), then forget the hand-over; safe to repeat after a crash."""
    data = json.loads(handover)
    marker = f"{keys.prefix}staging:released:{item_id}"
    BROKER_PUSH_ONCE(broker, keys=[marker, data["list_key"]], args=[data["body"], ttl])
    client.hdel(keys.releasing, item_id)
