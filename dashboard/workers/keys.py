"""Redis key names of the workers area (the inspect cache's keys live in dashboard.core.inspect_keys).

- ``workers:paused:<hostname>``: SET of queues an operator paused on that worker and has not resumed.
"""

from __future__ import annotations


def paused_key(prefix: str, hostname: str) -> str:
    """SET of queues an operator paused (cancel_consumer) on ``hostname`` and has not resumed."""
    return f"{prefix}workers:paused:{hostname}"
