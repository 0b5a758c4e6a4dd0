"""Redis keys of the history area (all under the deployment's key prefix)."""

from __future__ import annotations

import redis

from ..core.lock import LeaderLock


def recorder_lock(prefix: str) -> str:
    """Held by the one active recorder; the others stand by."""
    return f"{prefix}history:recorder-lock"


def skipped_records(prefix: str) -> str:
    """HASH: ``count`` of updates the recorder could not store, ``last_task_id``/``_reason``/``_at``."""
    return f"{prefix}history:skipped"


def skipped_recent(prefix: str) -> str:
    """LIST, newest first, of JSON ``{task_id, reason, at}`` for the last skipped updates (trimmed)."""
    return f"{prefix}history:skipped:recent"


def recorder_leader(client: redis.Redis, prefix: str, owner: str, ttl_seconds: float) -> LeaderLock:
    """The recorder leadership lock for ``owner``."""
    return LeaderLock(client, recorder_lock(prefix), owner, ttl_seconds)
