"""Beat with 10,000 enabled schedules: idle tick, reload after one edit, and run lateness.

Run: .venv/bin/python bench/schedules_beat.py [--schedules 10000] [--seconds 30]

Starts its own redis-server and SQLite database. The scheduler under test is the real
``DatabaseScheduler`` driven the way ``celery beat`` drives it (tick, sleep what it returns).
Baseline: the same scheduler reloading every row on every tick (the naive "re-read the table"
design), measured on the same data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def ms(value: float) -> str:
    return f"{value * 1000:8.2f} ms"


def line(label: str, values: list[float]) -> str:
    return f"  {label:30} p50 {ms(statistics.median(values))}  p99 {ms(percentile(values, 99))}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0, help="lateness run length, per variant")
    parser.add_argument("--period", type=int, default=120, help="every schedule's interval (seconds)")
    options = parser.parse_args()

    from tests.support.servers import RedisServer

    work = Path(tempfile.mkdtemp(prefix="bench-schedules-"))
    redis_server = RedisServer(work / "redis").start()
    try:
        os.environ.update(
            REDIS_URL=redis_server.url,
            CELERY_BROKER_URL=redis_server.url,
            CELERY_RESULT_BACKEND=redis_server.url,
            DATABASE_URL=f"sqlite:///{work / 'bench.db'}",
            TASKDECK_KEY_PREFIX="bench-schedules:",
            SECRET_KEY="bench",
        )
        run(options, work)
    finally:
        redis_server.stop()
        shutil.rmtree(work, ignore_errors=True)


def seed(app, count: int, period: int, *, due_soon: bool) -> None:
    """``count`` enabled interval schedules; grids spread evenly over one period."""
    from sqlalchemy import delete, insert

    from dashboard.extensions import db
    from dashboard.schedules.models import Schedule
    from dashboard.schedules.service import bump_version
    from dashboard.timeutil import utcnow

    now = utcnow().replace(microsecond=0)
    rows = []
    for index in range(count):
        # due_soon: first runs spread over the next period; otherwise all are an hour away.
        offset = timedelta(seconds=5 + (index * period) / count) if due_soon else timedelta(hours=1)
        first = now + offset
        rows.append(
            {
                "name": f"bench-{index:05d}",
                "task": "tasks.add",
                "kind": "interval",
                "timezone": "UTC",
                "interval_every": period,
                "interval_unit": "seconds",
                "args": "[1, 2]",
                "kwargs": "{}",
                "queue": "bench-schedules",
                "enabled": True,
                "anchor_at": first,
                "next_run_at": first,
                "total_run_count": 0,
                "missed_run_count": 0,
                "changed_version": 0,
                "created_at": now,
                "updated_at": now,
            }
        )
    with app.app_context():
        db.session.execute(delete(Schedule))
        db.session.execute(insert(Schedule), rows)
        version = bump_version(db.session)
        db.session.execute(Schedule.__table__.update().values(changed_version=version))
        db.session.commit()


def make_scheduler(celery_app, *, naive: bool):
    from dashboard.schedules.scheduler import DatabaseScheduler

    class NaiveScheduler(DatabaseScheduler):
        """Baseline: re-read every schedule on every tick."""

        def _tick(self, session):
            self._holding = False  # forces the full reload in the parent's pass
            return super()._tick(session)

    cls = NaiveScheduler if naive else DatabaseScheduler
    return cls(app=celery_app, max_interval=1)


def timed_ticks(scheduler, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        scheduler.tick()
        times.append(time.perf_counter() - start)
    return times


def lateness_run(scheduler, seconds: float) -> list[float]:
    """Drive the scheduler as celery beat does; return each published run's lateness (s)."""
    from dashboard.schedules import firing

    late: list[float] = []
    real_publish = firing.publish

    def publish(celery_app, run, task_id, due, producer=None):
        late.append(time.time() - due.timestamp())
        real_publish(celery_app, run, task_id, due, producer=producer)

    firing.publish = publish
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            wait = scheduler.tick()
            if wait and wait > 0:
                time.sleep(min(wait, max(0.0, end - time.monotonic())))
    finally:
        firing.publish = real_publish
    return late


def run(options, work: Path) -> None:
    from flask_migrate import upgrade

    from dashboard import create_app
    from dashboard.extensions import db
    from dashboard.redis_client import get_celery
    from dashboard.schedules import service
    from dashboard.schedules.models import Schedule

    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="heads")
    celery_app = app.extensions["taskdeck_celery"]
    count = options.schedules
    print(f"schedules: {count}, machine: {os.cpu_count()} cores, database: SQLite (WAL), real Redis")

    # ---- idle tick and reload after one edit (nothing due for an hour)
    seed(app, count, options.period, due_soon=False)
    ours = make_scheduler(celery_app, naive=False)
    naive = make_scheduler(celery_app, naive=True)
    ours.tick()  # takes the lock and loads everything once
    idle = timed_ticks(ours, 300)
    ours.lock.release()
    naive.tick()
    idle_naive = timed_ticks(naive, 30)
    naive.lock.release()
    print("\nidle tick (nothing changed, nothing due)")
    print(line("baseline full reload per tick", idle_naive))
    print(
        f"  version check                  p50 {ms(statistics.median(idle))}  p99 {ms(percentile(idle, 99))}"
    )
    print(f"  ratio (baseline / ours, p50)   {statistics.median(idle_naive) / statistics.median(idle):8.1f}x")
    print(f"  target idle tick <= 20 ms: {'met' if percentile(idle, 99) <= 0.020 else 'MISSED'} (p99)")

    ours.tick()  # re-take the lock
    edits = []
    for index in range(20):
        with app.app_context():
            target = db.session.query(Schedule).filter_by(name=f"bench-{index:05d}").one()
            service.update_schedule(
                db.session,
                get_celery(),
                target.id,
                {"interval_every": options.period + 1 + index},
                max_payload=65536,
                partial=True,
            )
            db.session.remove()
        start = time.perf_counter()
        ours.tick()
        edits.append(time.perf_counter() - start)
    full = []
    for _ in range(10):
        start = time.perf_counter()
        with app.app_context():
            ours._reload(db.session, full=True)
            db.session.remove()
        full.append(time.perf_counter() - start)
    print("\nreload after one edit (tick that notices the new version)")
    print(f"  baseline full reload           p50 {ms(statistics.median(full))}")
    print(line("changed rows + runnable count", edits))
    print(f"  ratio (baseline / ours, p50)   {statistics.median(full) / statistics.median(edits):8.1f}x")
    naive.close()
    ours.close()

    # ---- lateness: every schedule due once per period, first runs spread over one period
    print(
        f"\nlateness versus due time ({count} schedules every {options.period} s, {options.seconds:g} s each)"
    )
    results = {}
    for label, is_naive in (("baseline full reload per tick", True), ("version check", False)):
        seed(app, count, options.period, due_soon=True)
        scheduler = make_scheduler(celery_app, naive=is_naive)
        late = lateness_run(scheduler, options.seconds)
        scheduler.close()
        results[label] = late
        print(f"{line(label, late)}  max {ms(max(late))}  runs {len(late)}")
    base, mine = results["baseline full reload per tick"], results["version check"]
    print(f"  ratio (baseline / ours, p99)   {percentile(base, 99) / percentile(mine, 99):8.1f}x")
    print(f"  target p99 lateness <= 1 s: {'met' if percentile(mine, 99) <= 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
