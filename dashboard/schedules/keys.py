"""Redis keys and scripts of the schedules area (all under the deployment's key prefix)."""

from __future__ import annotations


def beat_lock_key(prefix: str) -> str:
    """Held by the one beat allowed to fire; its value is the holder's instance id."""
    return f"{prefix}schedules:beat-lock"
