"""Redis key names and Lua scripts of the workers area, in one place.

Keys (all under the configured prefix):

- ``workers:inspect:<kind>`` / ``workers:inspect:<kind>:<hostname>``: HASH ``at_ms`` (Redis clock,
  when the broadcast was answered) and ``data`` (JSON of the replies), the shared inspect cache for
  all workers / one worker.
- ``...:lock``: the refresh lock beside each cache entry (``SET NX PX``, value = a random token).
- ``workers:broadcasts:<kind>``: how many inspect broadcasts of ``kind`` the dashboard has sent.
- ``workers:seen``: HASH hostname -> milliseconds (Redis clock) of the last ping it answered.
"""

from __future__ import annotations

import redis

# Scripts are registered once per client (redis-py caches the SHA and falls back to EVAL).
_SCRIPTS: dict[tuple[int, str], object] = {}


def inspect_key(prefix: str, kind: str, hostname: str | None = None) -> str:
    base = f"{prefix}workers:inspect:{kind}"
    return f"{base}:{hostname}" if hostname else base


def lock_key(cache_key: str) -> str:
    return f"{cache_key}:lock"


def broadcast_counter(prefix: str, kind: str) -> str:
    return f"{prefix}workers:broadcasts:{kind}"


def seen_key(prefix: str) -> str:
    return f"{prefix}workers:seen"


# CLAIM guarantees that among all callers (any process, any host) exactly one gets "refresh" for
# a cache entry older than max_age while its lock is held, and that the broadcast counter is bumped
# by that same atomic step, so the counter counts the broadcasts actually allowed.
# KEYS: cache hash, lock, broadcast counter. ARGV: max_age_ms, token, lock_ms.
# Returns {verdict, data-or-false, at_ms-or-false}; verdict is "fresh", "refresh" or "wait".
CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local at = redis.call('HGET', KEYS[1], 'at_ms')
local data = redis.call('HGET', KEYS[1], 'data')
if at and data and (now - tonumber(at)) < tonumber(ARGV[1]) then
  return {'fresh', data, at}
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then
  redis.call('INCR', KEYS[3])
  return {'refresh', data or false, at or false}
end
return {'wait', data or false, at or false}
"""

# STORE guarantees the cache entry, its timestamp (Redis clock) and, for ping, the last-seen times
# of the hosts that answered change together; the lock is released only by the holder's token, so
# a slow refresher whose lock expired never frees a newer holder's lock.
# KEYS: cache hash, lock, seen hash. ARGV: token, data, keep_ms, hostnames seen...
# Returns the stored at_ms.
STORE = """
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
"""


def script(client: redis.Redis, name: str):
    """The registered script ``name`` (CLAIM or STORE) for ``client``."""
    cache_key = (id(client), name)
    found = _SCRIPTS.get(cache_key)
    if found is None:
        found = client.register_script(globals()[name])
        _SCRIPTS[cache_key] = found
    return found


def paused_key(prefix: str, hostname: str) -> str:
    """SET of queues an operator paused (cancel_consumer) on ``hostname`` and has not resumed."""
    return f"{prefix}workers:paused:{hostname}"
