"""Redis key names and the Lua scripts that change the staging list.

Layout of one named list (``default`` today) under ``<TASKDECK_KEY_PREFIX>staging:<list>:``:

``order``       ZSET  item id -> position score; lowest score is the head (next to release).
                Scores are integers spaced ``GAP`` apart; a move takes the midpoint between its
                new neighbours, and the list is renumbered (inside the same script) only when
                two neighbours have no integer left between them. ``ZRANGE ... 0 -1`` in
                ``redis-cli`` shows the order.
``items``       HASH  item id -> item JSON (task, args, kwargs, options, staged_by, staged_at, note).
``version``     STRING counter, incremented by every mutation.
``policy``      HASH  dispatcher policy: state (running/paused), low_water, max_rate.
``rate``        STRING with a PX expiry: the slot taken by the last release under ``max_rate``.
``releasing``   HASH  item id -> prepared broker message, only when the broker is another Redis
                server (processing list; replayed at dispatcher start-up).

An item is in ``order`` exactly when it is in ``items``: every script keeps the two together.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import redis

DEFAULT_LIST = "default"
# 2**30: thirty midpoint moves into the same gap before a renumber; 8 million items fit in the
# range where doubles still hold exact integers.
GAP = 2**30


@dataclass(frozen=True)
class StagingKeys:
    """The Redis keys of one named staging list."""

    prefix: str
    name: str = DEFAULT_LIST

    def _key(self, part: str) -> str:
        return f"{self.prefix}staging:{self.name}:{part}"

    @property
    def order(self) -> str:
        return self._key("order")

    @property
    def items(self) -> str:
        return self._key("items")

    @property
    def version(self) -> str:
        return self._key("version")

    @property
    def policy(self) -> str:
        return self._key("policy")

    @property
    def rate(self) -> str:
        return self._key("rate")

    @property
    def releasing(self) -> str:
        return self._key("releasing")

    def core(self) -> list[str]:
        """KEYS[1..3] of every list script: order, items, version."""
        return [self.order, self.items, self.version]


# Shared Lua helpers, prepended to the scripts that place items.
_PLACEMENT = f"""
local GAP = {GAP}
local LIMIT = 2^52

local function fmt(score)
  return string.format('%.0f', score)
end

-- Respace every item GAP apart around zero, keeping the order. O(N), and rare: only when a
-- gap is used up or scores drift towards the edge of exact doubles.
local function renumber(order)
  local ids = redis.call('ZRANGE', order, 0, -1)
  local n = #ids
  local base = -math.floor(n / 2) * GAP
  local batch = {{}}
  for i, id in ipairs(ids) do
    batch[#batch + 1] = fmt(base + (i - 1) * GAP)
    batch[#batch + 1] = id
    if #batch >= 1000 then
      redis.call('ZADD', order, unpack(batch))
      batch = {{}}
    end
  end
  if #batch > 0 then redis.call('ZADD', order, unpack(batch)) end
end

local function edge_score(order, at_head)
  local got
  if at_head then
    got = redis.call('ZRANGE', order, 0, 0, 'WITHSCORES')
  else
    got = redis.call('ZRANGE', order, -1, -1, 'WITHSCORES')
  end
  if #got == 0 then return 0 end
  local s = tonumber(got[2])
  if at_head then s = s - GAP else s = s + GAP end
  if math.abs(s) >= LIMIT then
    renumber(order)
    return edge_score(order, at_head)
  end
  return s
end

-- A score strictly between the anchor and its neighbour on `side`, renumbering when needed.
local function score_beside(order, anchor, side)
  local rank = redis.call('ZRANK', order, anchor)
  local a = tonumber(redis.call('ZSCORE', order, anchor))
  local lo, hi
  if side == 'before' then
    hi = a
    if rank == 0 then
      lo = a - 2 * GAP
    else
      lo = tonumber(redis.call('ZRANGE', order, rank - 1, rank - 1, 'WITHSCORES')[2])
    end
  else
    lo = a
    local nxt = redis.call('ZRANGE', order, rank + 1, rank + 1, 'WITHSCORES')
    if #nxt == 0 then hi = a + 2 * GAP else hi = tonumber(nxt[2]) end
  end
  if hi - lo < 2 or math.abs(lo) >= LIMIT or math.abs(hi) >= LIMIT then
    renumber(order)
    return score_beside(order, anchor, side)
  end
  return math.floor((lo + hi) / 2)
end
"""

# Guarantee: the item is added once (an existing id is refused, nothing changes), its data and
# its position appear together, and the version moves on.
# KEYS: order, items, version. ARGV: id, item JSON, 'head'|'tail'. Returns the new version.
ADD = (
    _PLACEMENT
    + """
local order, items, version = KEYS[1], KEYS[2], KEYS[3]
local id, data, where = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', items, id) == 1 or redis.call('ZSCORE', order, id) then
  return redis.error_reply('EXISTS')
end
local score = edge_score(order, where == 'head')
redis.call('HSET', items, id, data)
redis.call('ZADD', order, fmt(score), id)
return redis.call('INCR', version)
"""
)

# Guarantee: only the moved item's score changes; every other item keeps its relative order, no
# item is lost or duplicated. Placement is relative to a neighbour id, so concurrent changes
# elsewhere in the list cannot misplace it. Refused (list unchanged) when the item is not staged,
# when no given neighbour is staged, or when ARGV[5] (expected version) is set and differs.
# KEYS: order, items, version.
# ARGV: id, mode ('relative'|'top'|'bottom'|'up'|'down'), before id, after id, expected version.
# Relative mode: 'before' (the item's new next sibling) is used when it is staged, else 'after'
# (its new previous sibling). Returns {version, changed(0/1)}.
MOVE = (
    _PLACEMENT
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
"""
)

# Guarantee: the item's data and position disappear together, or nothing changes (unknown id).
# KEYS: order, items, version. ARGV: id. Returns the new version.
REMOVE = """
local order, items, version = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]
if redis.call('ZREM', KEYS[1], id) == 0 then return redis.error_reply('NOID') end
redis.call('HDEL', items, id)
return redis.call('INCR', version)
"""

# Guarantee: only a staged item's data is replaced (an item released or removed meanwhile is
# not resurrected); its position is kept. KEYS: order, items, version. ARGV: id, item JSON.
EDIT = """
local order, items, version = KEYS[1], KEYS[2], KEYS[3]
if not redis.call('ZSCORE', order, ARGV[1]) then return redis.error_reply('NOID') end
redis.call('HSET', items, ARGV[1], ARGV[2])
return redis.call('INCR', version)
"""

# Release into a broker list on the SAME Redis server. Guarantee: exactly once. The check that
# the item is still staged, its removal and the LPUSH of the prepared Celery message happen in
# one script, so whichever process runs it (and whenever any process dies) an item is either
# still staged or in the broker list, never both and never neither, and only one caller wins.
# KEYS: order, items, version, rate, target list, then every priority sub-list of the queue
#       (counted for the low-water mark).
# ARGV: id, message JSON, require head (0/1), low-water (0 = no check), rate slot ms (0 = none),
#       then pairs of (event channel, event payload) to PUBLISH (Celery's task-sent event).
# Returns {1, version} when released, or {0, reason}: gone, not-head, busy, rate.
RELEASE = """
local order, items, version, rate, target = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local id, message = ARGV[1], ARGV[2]
local require_head, low_water, rate_ms = ARGV[3] == '1', tonumber(ARGV[4]), tonumber(ARGV[5])
if not redis.call('ZSCORE', order, id) then return {0, 'gone'} end
if require_head and redis.call('ZRANGE', order, 0, 0)[1] ~= id then return {0, 'not-head'} end
if low_water > 0 then
  local waiting = 0
  for i = 6, #KEYS do waiting = waiting + redis.call('LLEN', KEYS[i]) end
  if waiting >= low_water then return {0, 'busy'} end
end
if rate_ms > 0 and not redis.call('SET', rate, '1', 'PX', rate_ms, 'NX') then
  return {0, 'rate'}
end
redis.call('ZREM', order, id)
redis.call('HDEL', items, id)
redis.call('LPUSH', target, message)
for i = 6, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return {1, redis.call('INCR', version)}
"""

# Release when the broker is ANOTHER Redis server, step 1 (on the staging server). Guarantee:
# the item leaves the list and enters the processing hash together, once; whoever replays the
# processing hash (any dispatcher at start-up) finishes the hand-over.
# KEYS: order, items, version, rate, releasing. ARGV: id, hand-over JSON, require head, rate ms.
# Returns {1, version} or {0, reason}.
RELEASE_TO_PROCESSING = """
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
return {1, redis.call('INCR', version)}
"""

# Step 2, on the BROKER server. Guarantee: the message is pushed at most once per marker; a
# replay after a crash finds the marker and pushes nothing. KEYS: marker, target list.
# ARGV: message, marker TTL seconds. Returns 1 when pushed now, 0 when it was pushed before.
BROKER_PUSH_ONCE = """
if redis.call('SET', KEYS[1], '1', 'EX', ARGV[2], 'NX') then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
"""

# Move one waiting broker message into the staging list, when the broker is this same Redis
# server and database. Guarantee: exactly once. Removing the exact raw bytes from the queue's
# sub-list (LREM count 1: one element, the exact bytes, nothing else; identical copies are
# interchangeable) and adding the item (data, position at the tail, version) happen in one
# script, so the work is either still waiting in the queue or staged, never both and never
# neither. If a worker (or a delete) took the message first, LREM removes nothing and nothing is
# staged. An id already staged is refused before anything changes.
# KEYS: order, items, version, the broker sub-list holding the message.
# ARGV: item id (the message's task id), item JSON, the message's raw bytes.
# Returns {1, version} when moved, {0, 'gone'} when the message was no longer waiting.
STAGE_FROM_QUEUE = (
    _PLACEMENT
    + """
local order, items, version, source = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, data, raw = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', items, id) == 1 or redis.call('ZSCORE', order, id) then
  return redis.error_reply('EXISTS')
end
if redis.call('LREM', source, 1, raw) == 0 then return {0, 'gone'} end
local score = edge_score(order, false)
redis.call('HSET', items, id, data)
redis.call('ZADD', order, fmt(score), id)
return {1, redis.call('INCR', version)}
"""
)

# "Auto" submission when the broker is this same Redis server and database. Guarantee: the
# decision and its effect are one step. When the list is empty and the queue's sub-lists hold
# fewer than the low-water mark, the prepared message is pushed (with its task-sent event) and
# the list is left alone; otherwise the item is staged at the tail. Concurrent submissions see
# each other's effect, so a burst sends until the queue reaches the mark and stages the rest.
# KEYS: order, items, version, the target sub-list, then every priority sub-list of the queue.
# ARGV: id, item JSON, message JSON, low-water, then pairs of (event channel, event payload).
# Returns {'sent', 0} or {'staged', version}; an id already staged is refused (EXISTS).
SUBMIT_AUTO = (
    _PLACEMENT
    + """
local order, items, version, target = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, data, message, low_water = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HEXISTS', items, id) == 1 or redis.call('ZSCORE', order, id) then
  return redis.error_reply('EXISTS')
end
if redis.call('ZCARD', order) == 0 then
  local waiting = 0
  for i = 5, #KEYS do waiting = waiting + redis.call('LLEN', KEYS[i]) end
  if waiting < low_water then
    redis.call('LPUSH', target, message)
    for i = 5, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
    return {'sent', 0}
  end
end
local score = edge_score(order, false)
redis.call('HSET', items, id, data)
redis.call('ZADD', order, fmt(score), id)
return {'staged', redis.call('INCR', version)}
"""
)

SCRIPTS = {
    "add": ADD,
    "submit_auto": SUBMIT_AUTO,
    "move": MOVE,
    "remove": REMOVE,
    "edit": EDIT,
    "release": RELEASE,
    "release_to_processing": RELEASE_TO_PROCESSING,
    "broker_push_once": BROKER_PUSH_ONCE,
    "stage_from_queue": STAGE_FROM_QUEUE,
}

_registered: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def script(client: redis.Redis, name: str):
    """The registered script ``name`` for ``client`` (registered once per client)."""
    scripts = _registered.get(client)
    if scripts is None:
        scripts = {key: client.register_script(text) for key, text in SCRIPTS.items()}
        _registered[client] = scripts
    return scripts[name]
