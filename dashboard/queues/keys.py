"""The queue area's Lua scripts over the broker's keys (kombu's Redis transport layout).

The key names themselves come from :mod:`dashboard.core.broker` (``BrokerLayout``): kombu keeps a
queue as a LIST per priority step, LPUSHes new messages and workers BRPOP the keys lowest step
first, so the next message to run is the RIGHT end of the first non-empty sub-list. Every script
takes those sub-lists as KEYS in consumption order.
"""

from __future__ import annotations

from ..core import scripts

# Read one page of a queue, next-to-run first, across its priority sub-lists.
# KEYS: the sub-lists in consumption order.
# ARGV[1] = "pos":   ARGV[2] = position of the first message wanted (0 = next to run).
# ARGV[1] = "after": ARGV[2] = 1-based sub-list index of the anchor (the last message of the
#   previous page), ARGV[3] = its offset from the right end when it was read, ARGV[6] = its sha1.
#   The anchor can only have moved towards the right end (workers pop there; producers push on
#   the left), so it is looked for in at most ARGV[5] elements from its old offset rightwards; if
#   it is gone, everything before it has been taken too and the page starts at that list's head.
# ARGV[4] = page size.
# Guarantees: lengths and messages are one consistent snapshot; the work is LLEN per sub-list plus
# LRANGE of at most page size (+ window) elements, never the whole list.
# Returns {lengths, position of the first returned message, {subindex, offset, raw, ...}}.
READ_PAGE_LUA = """
local n = #KEYS
local lengths = {}
for i = 1, n do lengths[i] = redis.call('LLEN', KEYS[i]) end
local limit = tonumber(ARGV[4])
local sub, off = n + 1, 0
if ARGV[1] == 'pos' then
  local pos = tonumber(ARGV[2])
  for i = 1, n do
    if pos < lengths[i] then sub = i; off = pos; break end
    pos = pos - lengths[i]
  end
else
  sub = tonumber(ARGV[2])
  local anchor = tonumber(ARGV[3])
  local window = tonumber(ARGV[5])
  local hi = math.min(anchor, lengths[sub] - 1)
  off = 0
  if hi >= 0 then
    local lo = math.max(0, hi - window + 1)
    local items = redis.call('LRANGE', KEYS[sub], -(hi + 1), -(lo + 1))
    for i = 1, #items do
      if redis.sha1hex(items[i]) == ARGV[6] then off = hi - i + 2; break end
    end
  end
end
local start = off
for i = 1, math.min(sub - 1, n) do start = start + lengths[i] end
local out = {}
local taken = 0
while sub <= n and taken < limit do
  local len = lengths[sub]
  if off < len then
    local last = math.min(len - 1, off + (limit - taken) - 1)
    local items = redis.call('LRANGE', KEYS[sub], -(last + 1), -(off + 1))
    for i = #items, 1, -1 do
      out[#out + 1] = sub
      out[#out + 1] = off + (#items - i)
      out[#out + 1] = items[i]
      taken = taken + 1
    end
  end
  sub = sub + 1
  off = 0
end
return {lengths, start, out}
"""

# Shared by FIND_MESSAGE_LUA and DELETE_MESSAGE_LUA: look for one waiting message, next-to-run first.
# KEYS: the sub-lists in consumption order. ARGV[1]: "id" or "sha1"; ARGV[2]: the Celery task id
# (matched against the decoded headers' id, never by substring alone) or the sha1 of the raw bytes;
# ARGV[3]: how many elements to read per LRANGE while searching.
_FIND = """
local mode, wanted, chunk = ARGV[1], ARGV[2], tonumber(ARGV[3])
local function matches(raw)
  if mode == 'sha1' then return redis.sha1hex(raw) == wanted end
  if not string.find(raw, wanted, 1, true) then return false end
  local ok, message = pcall(cjson.decode, raw)
  return ok and type(message) == 'table' and type(message.headers) == 'table'
    and message.headers.id == wanted
end
local function find()
  for _, key in ipairs(KEYS) do
    local len = redis.call('LLEN', key)
    local from = 0
    while from < len do
      local items = redis.call('LRANGE', key, -(from + chunk), -(from + 1))
      for i = #items, 1, -1 do
        if matches(items[i]) then return key, items[i] end
      end
      from = from + chunk
    end
  end
  return nil, nil
end
"""

# Find one waiting message (arguments as in _FIND). Guarantees: read-only; returns {key, raw} of
# the match nearest the head, or false. Whoever acts on the result must re-check the exact bytes
# atomically (the staging move does, with LREM in its own script).
FIND_MESSAGE_LUA = (
    _FIND
    + """
local key, raw = find()
if key then return {key, raw} end
return false
"""
)

# Remove one waiting message from a queue's sub-lists (arguments as in _FIND).
# Guarantees: atomic, so a worker cannot take the message half-way; removes exactly one element,
# the exact bytes found (LREM count -1: the occurrence nearest the head, the one found first), and
# nothing else; returns {key, raw} or false when no such message is waiting (a worker took it).
DELETE_MESSAGE_LUA = (
    _FIND
    + """
local key, raw = find()
if key then
  redis.call('LREM', key, -1, raw)
  return {key, raw}
end
return false
"""
)

# Purge a queue: count and delete all its sub-lists, naming the first messages' runs.
# KEYS: the sub-lists. ARGV[1]: how many messages at most report their task id and name (Celery's
# protocol 2 headers; others are counted only). Guarantees: atomic; a message pushed concurrently
# is either counted and deleted or left entirely in place.
# Returns {deleted count, {id1, task1, id2, task2, ...}}.
PURGE_QUEUE_LUA = """
local total, limit, named, found = 0, tonumber(ARGV[1]), 0, {}
for _, key in ipairs(KEYS) do
  local length = redis.call('LLEN', key)
  total = total + length
  if named < limit and length > 0 then
    for _, raw in ipairs(redis.call('LRANGE', key, 0, limit - named - 1)) do
      local ok, message = pcall(cjson.decode, raw)
      if ok and type(message) == 'table' and type(message.headers) == 'table'
          and type(message.headers.id) == 'string' then
        local task = message.headers.task
        found[#found + 1] = message.headers.id
        found[#found + 1] = type(task) == 'string' and task or ''
        named = named + 1
      end
    end
  end
  redis.call('DEL', key)
end
return {total, found}
"""


READ_PAGE = scripts.register("queues.read_page", READ_PAGE_LUA)
FIND_MESSAGE = scripts.register("queues.find_message", FIND_MESSAGE_LUA)
DELETE_MESSAGE = scripts.register("queues.delete_message", DELETE_MESSAGE_LUA)
PURGE_QUEUE = scripts.register("queues.purge_queue", PURGE_QUEUE_LUA)
