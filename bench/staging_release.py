"""Releases with history, end to end, versus a plain ``send_task`` loop on the same Redis.

Measured per round, on one redis-server and one fresh database:

- baseline: ``celery_app.send_task`` in a loop, N ``tasks.add`` messages into a queue nobody
  consumes (no history row written by the loop itself);
- release: N staged items released by the dispatcher's own loop (``Dispatcher.step``, in this
  process, exactly as ``flask taskdeck dispatch`` runs it), from the first step until the last
  of the N runs is in SQL with ``origin = 'staging'``, folded by a real recorder process
  (``flask --app wsgi:app taskdeck record``) from the origin entries the release script left;
- the same with one head per script (``MAX_BATCH = 1``), to show what batching the heads adds;
- once, on fewer items: the previous dispatcher (one release, then one SQL write per item).

The recorder runs throughout (it also records the task-sent events of every path).
Run: .venv/bin/python bench/staging_release.py [--database sqlite|postgresql] [--items N]
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import history_db  # noqa: E402

ROUNDS = 3
QUEUE = "bench-release"


def staged_rows(app) -> int:
    from dashboard.core.runs import TaskRun
    from dashboard.extensions import db

    count = db.session.query(TaskRun).filter_by(origin="staging").count()
    db.session.rollback()
    return count


def stage(app, celery_app, client, prefix: str, n: int) -> None:
    from dashboard.staging import service

    for i in range(n):
        data = {"task": "tasks.add", "args": [i, 1], "options": {"queue": QUEUE}}
        item = service.build_item(celery_app, data, staged_by="bench", max_bytes=65536, queues=[QUEUE])
        service.stage_item(client, prefix, item)


def send_loop(celery_app, client, n: int) -> float:
    client.delete("bench-send")
    started = time.perf_counter()
    for i in range(n):
        celery_app.send_task("tasks.add", args=[i, 1], queue="bench-send")
    elapsed = time.perf_counter() - started
    assert client.llen("bench-send") == n
    client.delete("bench-send")
    return n / elapsed


def release_loop(app, celery_app, client, prefix: str, n: int, *, batch: int, write_each: bool) -> tuple:
    """Releases/s to the broker and end-to-end runs/s until every run is in SQL with its origin."""
    from dashboard.extensions import db
    from dashboard.staging import dispatcher, service

    before = staged_rows(app)
    stage(app, celery_app, client, prefix, n)
    dispatcher.MAX_BATCH = batch
    worker = dispatcher.Dispatcher(app)
    started = time.perf_counter()
    while service.staged_count(client, prefix):
        if write_each:  # the previous dispatcher: one release, then its history row, per item
            outcome = service.release_next(
                client, celery_app, prefix, policy=service.get_policy(client, prefix)
            )
            service.record_release(db.session, outcome)
        else:
            worker.step(client, prefix, True)
    to_broker = time.perf_counter() - started
    while staged_rows(app) < before + n:
        time.sleep(0.01)
    end_to_end = time.perf_counter() - started
    assert client.llen(QUEUE) == n
    client.delete(QUEUE)
    return n / to_broker, n / end_to_end


def main() -> None:
    parse = history_db.parser(__doc__.splitlines()[0])
    parse.add_argument("--items", type=int, default=4000)
    options = parse.parse_args()
    n = options.items
    with history_db.migrated_app(options.database, "staging-release") as (app, url):
        from dashboard.redis_client import get_celery, get_redis
        from dashboard.staging import service
        from tests.support.servers import BIN, ManagedProcess, wait_until

        machine = f"machine: 2 cores (shared); {history_db.label(url)}"
        config = app.config
        prefix = config["TASKDECK_KEY_PREFIX"]
        env = dict(
            os.environ,
            DATABASE_URL=url,
            REDIS_URL=config["REDIS_URL"],
            CELERY_BROKER_URL=config["REDIS_URL"],
            CELERY_RESULT_BACKEND=config["REDIS_URL"],
            TASKDECK_KEY_PREFIX=prefix,
            SECRET_KEY="bench",
        )
        log_path = Path(app.instance_path) / "recorder.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        recorder = ManagedProcess(
            [str(BIN / "flask"), "--app", "wsgi:app", "taskdeck", "record"], env, log_path
        )
        recorder.spawn()
        try:
            with app.app_context():
                client, celery_app = get_redis(), get_celery()
                wait_until(lambda: client.exists(f"{prefix}history:recorder-lock"), 60, what="the recorder")
                service.set_policy(
                    client, prefix, {"state": "running", "low_water": 1_000_000, "max_rate": 0}
                )
                figures = {"send": [], "one": [], "batched": []}
                for _ in range(ROUNDS):
                    figures["send"].append(send_loop(celery_app, client, n))
                    figures["one"].append(
                        release_loop(app, celery_app, client, prefix, n, batch=1, write_each=False)
                    )
                    figures["batched"].append(
                        release_loop(app, celery_app, client, prefix, n, batch=32, write_each=False)
                    )
                old = release_loop(app, celery_app, client, prefix, n // 4, batch=1, write_each=True)
                recorder.check_running("recorder")
        finally:
            recorder.stop()
    send = max(figures["send"])
    print(f"{machine}; {n:,} messages per run, best of {ROUNDS}")
    print(f"send_task loop:                          {send:7.0f} messages/s  (all: {_all(figures['send'])})")
    for key, label in (("one", "one head per script"), ("batched", "up to 32 heads per script")):
        broker = max(f[0] for f in figures[key])
        end = max(f[1] for f in figures[key])
        print(
            f"release, {label + ':':27}{end:7.0f} runs/s in history with origin (ratio {end / send:.2f}x);"
            f" to the broker {broker:.0f}/s  (all: {_all([f[1] for f in figures[key]])})"
        )
    print(
        f"previous dispatcher (SQL write per item): {old[1]:6.0f} runs/s in history with origin"
        f" (ratio {old[1] / send:.2f}x; {n // 4:,} items, one run)"
    )


def _all(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values) + f"; median {statistics.median(values):.0f}"


if __name__ == "__main__":
    main()
