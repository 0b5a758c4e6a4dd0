"""Redis keys and scripts of the schedules area (all under the deployment's key prefix)."""

from __future__ import annotations

import redis


def beat_lock_key(prefix: str) -> str:
    """Held by the one beat allowed to fire; its value is the holder's instance id."""
    return f"{prefix}schedules:beat-lock"


# Extend the lock's TTL only if the caller still holds it. Returns 1 when extended, 0 when the
# lock is gone or held by someone else: a beat that lost its lock can never extend (or steal)
# another instance's lock, because the compare and the PEXPIRE happen in one script.
RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# Delete the lock only if the caller holds it (clean shutdown), so a standby that has already
# taken over keeps its lock. Returns 1 when deleted.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class BeatLock:
    """The beat leadership lock: ``SET NX PX`` to take it, compare-and-PEXPIRE to keep it."""

    def __init__(self, client: redis.Redis, prefix: str, instance: str, ttl_seconds: float):
        self.client = client
        self.key = beat_lock_key(prefix)
        self.instance = instance
        self.ttl_ms = int(ttl_seconds * 1000)
        self._renew = client.register_script(RENEW_LOCK)
        self._release = client.register_script(RELEASE_LOCK)

    def hold(self) -> bool:
        """Keep the lock if held, else try to take it; True when this instance holds it now."""
        if self._renew(keys=[self.key], args=[self.instance, self.ttl_ms]):
            return True
        return bool(self.client.set(self.key, self.instance, nx=True, px=self.ttl_ms))

    def release(self) -> bool:
        return bool(self._release(keys=[self.key], args=[self.instance]))
