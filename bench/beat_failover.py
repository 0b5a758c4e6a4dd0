"""Beat failover: runs lost and doubled over N kill -9 of the active beat, and the takeover time.

Two beats run against 200 schedules due every second, with a real worker consuming what they
send. N times: wait until a batch is claimed in SQL and not yet confirmed at the broker, kill -9
the active beat, start a fresh standby, and time how long until the other beat holds the lock.
Then every schedule is disabled, the beats stop, the worker drains, and the runs it executed
(its log, one line per executed task) are compared with the runs beat claimed (the schedules'
run counters in SQL): lost = claimed - distinct executed, doubled = executions - distinct.

Run: .venv/bin/python bench/beat_failover.py [--kills 10] [--broker same|other]
     (starts its own redis-server, SQLite database and worker)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import app_config, migrate  # noqa: E402
from tests.schedules.conftest import BeatProcess, make_burst  # noqa: E402
from tests.support.servers import CeleryWorker, RedisServer, wait_until  # noqa: E402

SCHEDULES = 200
SUCCEEDED = re.compile(r"Task tasks\.add\[([0-9a-f-]{36})\] succeeded")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--broker", choices=["same", "other"], default="same")
    options = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="beat-failover-"))
    server = RedisServer(work / "redis").start()
    database_url = f"sqlite:///{work / 'taskdeck.db'}"
    broker_url = server.url if options.broker == "same" else f"redis://127.0.0.1:{server.port}/5"
    prefix = "bench:"
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        TASKDECK_KEY_PREFIX=prefix,
        REDIS_URL=server.url,
        CELERY_BROKER_URL=broker_url,
        CELERY_RESULT_BACKEND=server.url,
        SECRET_KEY="bench",
    )
    os.environ.update(env)
    migrate(work, server.url, database_url)
    from dashboard import create_app
    from dashboard.core.beat import beat_status
    from dashboard.extensions import db
    from dashboard.schedules import outbox, service
    from dashboard.schedules.models import Schedule

    app = create_app(app_config(work, server.url, database_url, prefix) | {"CELERY_BROKER_URL": broker_url})
    import redis

    client = redis.Redis.from_url(server.url)

    def in_sql(read):
        with app.app_context():
            try:
                return read(db.session)
            finally:
                db.session.remove()

    make_burst(app, SCHEDULES)

    worker = CeleryWorker(env, work / "worker.log", queues="celery", concurrency=4)
    worker.spawn()
    wait_until(lambda: " ready." in worker.log(), 60, what="the worker")
    beats = [BeatProcess(env, work / f"beat-{i}.log").start() for i in range(2)]

    def holder_pid() -> int | None:
        holder = beat_status(client, prefix).holder
        return int(holder.rsplit(":", 1)[1]) if holder else None

    takeovers: list[float] = []
    try:
        for kill in range(options.kills):
            active_pid = wait_until(holder_pid, 60, what="an active beat")
            active = next(b for b in beats if b.pid == active_pid)
            wait_until(lambda: in_sql(outbox.pending_count) > 0, 60, interval=0.001, what="a batch in flight")
            active.kill()
            killed_at = time.monotonic()
            beats.remove(active)
            moved = lambda gone=active_pid: (pid := holder_pid()) and pid != gone  # noqa: E731
            wait_until(moved, 60, interval=0.01, what="takeover")
            takeovers.append(time.monotonic() - killed_at)
            beats.append(BeatProcess(env, work / f"beat-{kill + 2}.log").start())
            print(f"kill {kill + 1}: takeover after {takeovers[-1]:.2f} s", flush=True)
        with app.app_context():
            for schedule_id in db.session.scalars(db.select(Schedule.id)):
                service.set_enabled(db.session, schedule_id, False)
            db.session.remove()
        for beat in beats:
            beat.stop()
        pending = in_sql(outbox.pending_count)
        claimed = in_sql(lambda s: sum(r.total_run_count for r in s.query(Schedule).all()))

        def drained():
            ran = Counter(SUCCEEDED.findall(worker.log()))
            return ran if len(ran) >= claimed else None

        try:
            ran = wait_until(drained, 300, what="the worker to drain")
        except AssertionError:
            ran = Counter(SUCCEEDED.findall(worker.log()))
        lost = claimed - len(ran)
        doubled = sum(ran.values()) - len(ran)
        print(f"broker: {options.broker} Redis; schedules {SCHEDULES} due every second")
        print(f"kills {options.kills}: claimed {claimed}, executed {sum(ran.values())} ({len(ran)} distinct)")
        print(f"lost {lost}, doubled {doubled}, left in the outbox {pending}")
        print(
            f"takeover after kill -9: median {statistics.median(takeovers):.2f} s, "
            f"max {max(takeovers):.2f} s (lock TTL 5 s, standby tick 1 s)"
        )
    finally:
        for beat in beats:
            beat.stop()
        worker.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
