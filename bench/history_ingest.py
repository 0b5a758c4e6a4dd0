"""Recorder ingest rate: synthetic task events through the recorder's own batching path.

Baseline: the same merge, but one transaction per event (what a naive recorder does).
Run: .venv/bin/python bench/history_ingest.py [--database sqlite|postgresql] [tasks]
(``postgresql`` uses the server in DATABASE_URL, else a throwaway cluster; see history_db.py)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import history_db  # noqa: E402
from bench.history_events import task_events  # noqa: E402


def main(tasks: int = 40_000, kind: str = "sqlite") -> None:
    with history_db.migrated_app(kind, "history-ingest") as (app, url):
        run(app, url, tasks)


def run(app, url: str, tasks: int) -> None:
    from dashboard.core.runs import TaskRun
    from dashboard.extensions import db
    from dashboard.history import store
    from dashboard.history.merge import RunUpdate
    from dashboard.history.recorder import Recorder

    events = task_events(tasks)
    with app.app_context():
        # Baseline: one transaction per event, on a sample.
        sample = task_events(1_000, seed=11)
        started = time.perf_counter()
        for event in sample:
            store.apply_updates(db.session, [RunUpdate.from_event(event)])
        baseline = len(sample) / (time.perf_counter() - started)

        recorder = Recorder(app)
        started = time.perf_counter()
        for event in events:
            recorder.handle(event)
        recorder.flush()
        elapsed = time.perf_counter() - started
        rate = len(events) / elapsed
        rows = db.session.query(TaskRun).count()
        finished = db.session.query(TaskRun).filter(TaskRun.state.in_(["SUCCESS", "FAILURE"])).count()
        db.session.remove()
        db.engine.dispose()
    print(
        f"machine: 2 cores; {history_db.label(url)}; batch size {recorder.batch_size};"
        " final values read from Redis"
    )
    print(f"baseline (one transaction per event): {baseline:,.0f} events/s")
    print(
        f"recorder batching path: {len(events):,} events for {tasks:,} tasks"
        f" in {elapsed:.2f} s = {rate:,.0f} events/s"
    )
    print(f"ratio: {rate / baseline:.1f}x; target >= 5,000 events/s: {'met' if rate >= 5000 else 'NOT met'}")
    print(f"rows: {rows:,}, finished: {finished:,} (every task ends final despite out-of-order delivery)")


if __name__ == "__main__":
    arguments = history_db.parser(__doc__.splitlines()[0])
    arguments.add_argument("tasks", nargs="?", type=int, default=40_000)
    options = arguments.parse_args()
    main(options.tasks, options.database)
