"""Example tasks: arithmetic, reports, cleanup, progress, retries and failure."""

from __future__ import annotations

import time

from celery import shared_task


@shared_task(name="tasks.add")
def add(x: int, y: int) -> int:
    """Add two numbers."""
    return x + y


@shared_task(name="tasks.send_daily_report")
def send_daily_report(recipient: str = "ops@example.com", day: str | None = None) -> dict:
    """Build the daily report and pretend to mail it (routed to the ``reports`` queue)."""
    return {"recipient": recipient, "day": day, "status": "sent"}


@shared_task(name="tasks.cleanup_expired_data")
def cleanup_expired_data(days: int = 7) -> dict:
    """Delete temporary data older than ``days`` days (a dry run in the demo)."""
    return {"older_than_days": days, "deleted": 0}


@shared_task(bind=True, name="tasks.long_task")
def long_task(self, steps: int = 10, step_seconds: float = 0.5) -> dict:
    """Work through ``steps`` steps, reporting PROGRESS with current/total after each one."""
    for done in range(1, steps + 1):
        time.sleep(step_seconds)
        self.update_state(state="PROGRESS", meta={"current": done, "total": steps})
    return {"current": steps, "total": steps}


@shared_task(
    bind=True,
    name="tasks.flaky",
    autoretry_for=(ConnectionError,),
    retry_kwargs={"max_retries": 5},
    default_retry_delay=0.2,
)
def flaky(self, fail_times: int = 2) -> str:
    """Fail with ConnectionError on the first ``fail_times`` attempts, then succeed (automatic retries)."""
    if self.request.retries < fail_times:
        raise ConnectionError(f"attempt {self.request.retries + 1} failed on purpose")
    return f"succeeded after {self.request.retries} retries"


@shared_task(name="tasks.always_fails")
def always_fails(message: str = "this task always fails") -> None:
    """Raise RuntimeError every time."""
    raise RuntimeError(message)
