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


# --- Tasks the demo data set (`flask --app wsgi:app taskdeck demo`, docs/demo.md) runs -----------

# A queue of its own, configured through the task's ``queue``: `make run`'s worker does not consume
# it, so its messages wait (start `celery -A celery_app:app worker -Q backfill` to drain it).
BACKFILL_QUEUE = "backfill"


@shared_task(name="tasks.backfill_day", queue=BACKFILL_QUEUE)
def backfill_day(day: str, source: str = "orders") -> dict:
    """Re-import one day of ``source`` (off-peak work on the ``backfill`` queue)."""
    return {"day": day, "source": source, "imported": 0}


@shared_task(bind=True, name="tasks.sync_partner_feed", max_retries=3)
def sync_partner_feed(self, partner: str, available: bool = True, retry_in: float = 3600) -> dict:
    """Fetch a partner's feed; while the partner is unavailable, retry later on the ``backfill`` queue."""
    if not available:
        raise self.retry(
            exc=ConnectionError(f"partner {partner} is unavailable"), countdown=retry_in, queue=BACKFILL_QUEUE
        )
    return {"partner": partner, "status": "synced"}


@shared_task(name="tasks.echo")
def echo(value: object = None) -> object:
    """Return ``value`` unchanged."""
    return value


@shared_task(name="tasks.export_rows")
def export_rows(rows: int = 10, width: int = 80, fill: str = "x") -> list[str]:
    """Build an export of ``rows`` lines of ``width`` characters (a large result)."""
    line = (fill * width)[:width]
    return [line] * rows


@shared_task(name="tasks.build_tree")
def build_tree(depth: int = 3, leaf: object = "leaf") -> object:
    """Return ``leaf`` wrapped ``depth`` levels deep, objects and lists in turn (a deep result)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"child": value}
    return value


@shared_task(name="tasks.total")
def total(values: list) -> float:
    """Sum ``values`` (a chord's callback)."""
    return sum(values)
