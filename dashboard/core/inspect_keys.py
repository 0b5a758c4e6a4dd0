"""Redis key names and Lua scripts of the shared inspect cache (see :mod:`dashboard.core.inspect`).

Keys (all under the configured prefix; the ``workers:`` names are kept so a running deployment
keeps its last-seen times across an upgrade):

- ``workers:inspect:<kind>`` / ``workers:inspect:<kind>:<hostname>``: HASH ``at_ms`` (Redis clock,
  when the broadcast was answered) and ``data`` (JSON of the replies), the shared inspect cache for
  all workers / one worker.
- ``...:lock``: the refresh lock beside each cache entry (``SET NX PX``, value = a random token).
- ``workers:broadcasts:<kind>``: how many inspect broadcasts of ``kind`` the dashboard has sent;
  ``workers:broadcasts:discover`` counts the full-timeout discovery pings.
- ``workers:seen``: HASH hostname -> milliseconds (Redis clock) of the last inspect it answered.
- ``workers:discover``: STRING, present while a discovery ping is not due (``PX`` = the interval).
"""

from __future__ import annotations

from . import scripts

DISCOVER = "discover"  # the counter name of discovery pings, beside the inspect kinds


def inspect_key(prefix: str, kind: str, hostname: str | None = None) -> str:
    base = f"{prefix}workers:inspect:{kind}"
    return f"{base}:{hostname}" if hostname else base


def lock_key(cache_key: str) -> str:
    return f"{cache_key}:lock"


def broadcast_counter(prefix: str, kind: str) -> str:
    return f"{prefix}workers:broadcasts:{kind}"


def seen_key(prefix: str) -> str:
    return f"{prefix}workers:seen"


def discover_key(prefix: str) -> str:
    return f"{prefix}workers:discover"


# CLAIM guarantees that among all callers (any process, any host) exactly one gets "refresh" for
# a cache entry older than max_age while its lock is held, and that the broadcast counter is bumped
# by that same atomic step, so the counter counts the broadcasts actually allowed.
# For a broadcast to all workers (ARGV[6] = 1) the winner also learns how many workers answered
# within alive_ms (the number of replies worth waiting for), and whether it should send the
# discovery ping: exactly one caller per discover_ms wins that too, and bumps its counter. With no
# worker alive, this broadcast itself waits the full timeout, so it counts as the discovery.
# KEYS: cache hash, lock, broadcast counter, seen hash, discover marker, discover counter.
# ARGV: max_age_ms, token, lock_ms, alive_ms, discover_ms, all_workers (0/1).
# Returns {verdict, data-or-false, at_ms-or-false, alive, discover}; verdict "fresh", "refresh", "wait".
CLAIM = scripts.register(
    "inspect.claim",
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = redis.call('HGET', KEYS[1], 'at_ms')
local data = redis.call('HGET', KEYS[1], 'data')
if at and data and (now - tonumber(at)) < tonumber(ARGV[1]) then
  return {'fresh', data, at, 0, 0}
end
if not redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then
  return {'wait', data or false, at or false, 0, 0}
end
redis.call('INCR', KEYS[3])
local alive, discover = 0, 0
if ARGV[6] == '1' then
  local seen = redis.call('HGETALL', KEYS[4])
  for i = 2, #seen, 2 do
    if now - tonumber(seen[i]) <= tonumber(ARGV[4]) then
      alive = alive + 1
    end
  end
  if alive == 0 then
    redis.call('SET', KEYS[5], '1', 'PX', tonumber(ARGV[5]))
  elseif redis.call('SET', KEYS[5], '1', 'NX', 'PX', tonumber(ARGV[5])) then
    redis.call('INCR', KEYS[6])
    discover = 1
  end
end
return {'refresh', data or false, at or false, alive, discover}
""",
)

# STORE guarantees the cache entry, its timestamp (Redis clock) and the last-seen times of the
# hosts that answered change together; the lock is released only by the holder's token, so a slow
# refresher whose lock expired never frees a newer holder's lock.
# KEYS: cache hash, lock, seen hash. ARGV: token, data, keep_ms, hostnames that answered...
# Returns the stored at_ms.
STORE = scripts.register(
    "inspect.store",
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'at_ms', now, 'data', ARGV[2])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
for i = 4, #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i], now)
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return now
""",
)

# SEEN guarantees the hosts that answered a discovery ping get one last-seen time (Redis clock),
# and returns how many of them had not answered within alive_ms before (0 = nobody new).
# KEYS: seen hash. ARGV: alive_ms, hostnames that answered...
SEEN = scripts.register(
    "inspect.seen",
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local new = 0
for i = 2, #ARGV do
  local before = redis.call('HGET', KEYS[1], ARGV[i])
  if not before or now - tonumber(before) > tonumber(ARGV[1]) then
    new = new + 1
  end
  redis.call('HSET', KEYS[1], ARGV[i], now)
end
return new
""",
)
