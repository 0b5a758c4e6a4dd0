"""The one leader lock: who among several beats (or recorders) is the active one.

A lock is a Redis string whose value is the holder's instance id, with a TTL. ``hold`` keeps it
when the caller already holds it and takes it when nobody does, in one script, so a standby can
never extend or steal the lock of the active instance, and a holder that stalled past the TTL
finds it gone (or taken) instead of silently keeping it. Every take bumps a fencing counter beside
the lock: ``fence`` tells a holder whether anyone has taken the lock since it did.
"""

from __future__ import annotations

import redis

from . import scripts

# KEYS: lock, fencing counter. ARGV: owner, ttl_ms.
# Returns the fencing number of the caller's hold (> 0), or 0 when another owner holds the lock.
HOLD = scripts.register(
    "lock.hold",
    """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '1')
end
if current then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
""",
)

# KEYS: lock. ARGV: owner. Deletes the lock only when the caller holds it (clean shutdown), so a
# standby that has already taken over keeps its lock. Returns 1 when deleted.
RELEASE = scripts.register(
    "lock.release",
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
""",
)


class LeaderLock:
    """A named lock held by one instance at a time, renewed by calling :meth:`hold` each pass."""

    def __init__(self, client: redis.Redis, key: str, owner: str, ttl_seconds: float):
        self.client = client
        self.key = key
        self.fence_key = f"{key}:fence"
        self.owner = owner
        self.ttl_ms = max(int(ttl_seconds * 1000), 1)
        self.fence = 0  # the fencing number of this instance's current hold; 0 when not holding

    def hold(self) -> bool:
        """Keep the lock if held, else try to take it; True when this instance holds it now."""
        self.fence = int(HOLD(self.client, keys=[self.key, self.fence_key], args=[self.owner, self.ttl_ms]))
        return self.fence > 0

    def held(self) -> bool:
        """True while this instance holds the lock under the same fencing number (renews nothing)."""
        if self.fence <= 0:
            return False
        with self.client.pipeline(transaction=False) as pipe:
            pipe.get(self.key)
            pipe.get(self.fence_key)
            owner, number = pipe.execute()
        return owner is not None and owner.decode() == self.owner and int(number or 0) == self.fence

    def release(self) -> bool:
        """Give the lock up if this instance holds it; True when it did."""
        self.fence = 0
        return bool(RELEASE(self.client, keys=[self.key], args=[self.owner]))


def holder(client: redis.Redis, key: str) -> tuple[str | None, int | None]:
    """Who holds the lock ``key`` and for how many more milliseconds (None, None when nobody)."""
    with client.pipeline(transaction=False) as pipe:
        pipe.get(key)
        pipe.pttl(key)
        owner, ttl = pipe.execute()
    if owner is None:
        return None, None
    return owner.decode("utf-8", "replace"), (int(ttl) if ttl is not None and ttl >= 0 else None)
