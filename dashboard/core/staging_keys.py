"""Redis key names of the staging list and the Lua scripts that add to it (from any area).

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
``held``        HASH  item id -> JSON {item: the item JSON as it was staged, reason, held_at}:
                items set aside because their message cannot be built (a poison head); out of
                ``order`` and ``items``, until an operator returns one to the tail or removes it.

An item is in ``order`` exactly when it is in ``items``: every script keeps the two together; a
held item is in neither.
The scripts that reorder, edit and release the list are the staging area's (``staging/keys.py``);
they share ``PLACEMENT`` from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import scripts

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

    @property
    def held(self) -> str:
        return self._key("held")

    def core(self) -> list[str]:
        """KEYS[1..3] of every list script: order, items, version."""
        return [self.order, self.items, self.version]


# Shared Lua helpers, prepended to the scripts that place items (here and in staging/keys.py).
PLACEMENT = f"""
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
ADD = scripts.register(
    "staging.add",
    PLACEMENT
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
""",
)

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
STAGE_FROM_QUEUE = scripts.register(
    "staging.stage_from_queue",
    PLACEMENT
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
""",
)

# "Auto" submission when the broker is this same Redis server and database. Guarantee: the
# decision and its effect are one step. When the list is empty and the queue's sub-lists hold
# fewer than the low-water mark, the prepared message is pushed (with its task-sent event) and
# the list is left alone; otherwise the item is staged at the tail. Concurrent submissions see
# each other's effect, so a burst sends until the queue reaches the mark and stages the rest.
# KEYS: order, items, version, the target sub-list, then every priority sub-list of the queue.
# ARGV: id, item JSON, message JSON, low-water, then pairs of (event channel, event payload).
# Returns {'sent', 0} or {'staged', version}; an id already staged is refused (EXISTS).
SUBMIT_AUTO = scripts.register(
    "staging.submit_auto",
    PLACEMENT
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
""",
)
