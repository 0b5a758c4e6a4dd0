"""Redis keys and scripts of the history area (all under the deployment's key prefix)."""

from __future__ import annotations

import redis

# Releases or extends the recorder lock only while the caller still owns it, so a recorder
# that stalled past the TTL can never release or prolong the lock a successor now holds.
_RENEW_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_scripts: dict[int, object] = {}


def recorder_lock(prefix: str) -> str:
    """Held by the one active recorder (``SET NX PX``); the others stand by."""
    return f"{prefix}history:recorder-lock"


def acquire_lock(client: redis.Redis, prefix: str, owner: str, ttl_ms: int) -> bool:
    """Take the recorder lock, or keep it when ``owner`` already holds it."""
    if client.set(recorder_lock(prefix), owner, nx=True, px=ttl_ms):
        return True
    return bool(_renew(client)(keys=[recorder_lock(prefix)], args=[owner, ttl_ms]))


def release_lock(client: redis.Redis, prefix: str, owner: str) -> None:
    _renew(client)(keys=[recorder_lock(prefix)], args=[owner, 0])


def _renew(client: redis.Redis):
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_RENEW_IF_OWNER)
    return script
