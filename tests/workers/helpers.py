"""Small helpers shared by the workers tests."""

from __future__ import annotations

import time


def direct(celery_app, hostname: str, kind: str, *args):
    """Ask one worker directly (no dashboard cache) and return its reply."""
    inspector = celery_app.control.inspect(destination=[hostname], timeout=2)
    return (getattr(inspector, kind)(*args) or {}).get(hostname)


def process_count(celery_app, hostname: str) -> int:
    return len(direct(celery_app, hostname, "stats")["pool"]["processes"])


def consumed(celery_app, hostname: str) -> set[str]:
    return {q["name"] for q in direct(celery_app, hostname, "active_queues") or []}


def control(client, hostname: str, command: str, **arguments):
    return client.post(
        f"/api/v1/workers/{hostname}/control", json={"command": command, "arguments": arguments}
    )


def holds_for(predicate, seconds: float, interval: float = 0.2) -> bool:
    """True when ``predicate`` stays true for the whole observation window (proving a negative)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(interval)
    return True
