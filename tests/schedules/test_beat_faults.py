"""Beat under faults, counted from what a real worker ran: kill -9 and SIGSTOP while a batch is in
flight, with a second beat taking over. Every due run runs exactly once."""

from __future__ import annotations

import re
import signal
from collections import Counter

import pytest

from dashboard.core.beat import beat_status
from dashboard.extensions import db
from dashboard.schedules import outbox, service
from dashboard.schedules.models import Schedule
from tests.schedules.conftest import make_burst
from tests.support.servers import CeleryWorker, wait_until

SCHEDULES = 200
SUCCEEDED = re.compile(r"Task tasks\.add\[([0-9a-f-]{36})\] succeeded")


@pytest.fixture(params=["broker on the dashboard Redis", "broker on another Redis database"])
def beat_env(request, beat_env, redis_server):
    """The beats' environment, their broker either the dashboard's Redis (one atomic script) or
    another database (fence checked before the script, markers in the broker)."""
    if request.param.startswith("broker on another"):
        return dict(beat_env, CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_server.port}/5")
    return beat_env


@pytest.fixture
def worker(beat_env, queue_name, tmp_path):
    """A real worker on the test's queue, on the beat's broker (ready once it says so)."""
    process = CeleryWorker(beat_env, tmp_path / "worker.log", queues=queue_name, concurrency=4)
    process.spawn()
    wait_until(lambda: process.check_running("worker") or " ready." in process.log(), 60, what="the worker")
    yield process
    process.stop()


def outbox_size(app) -> int:
    with app.app_context():
        try:
            return outbox.pending_count(db.session)
        finally:
            db.session.remove()


def claimed_runs(app) -> int:
    """Every run any beat claimed to fire, from SQL (the schedules' run counters)."""
    with app.app_context():
        try:
            return sum(row.total_run_count for row in db.session.query(Schedule).all())
        finally:
            db.session.remove()


def disable_all(app) -> None:
    with app.app_context():
        for schedule_id in db.session.scalars(db.select(Schedule.id)):
            service.set_enabled(db.session, schedule_id, False)
        db.session.remove()


def stop_firing_and_count(app, beat, worker) -> tuple[Counter, int]:
    """Disable every schedule, stop the active beat cleanly, let the worker drain; what it ran."""
    disable_all(app)
    beat.process.send_signal(signal.SIGTERM)
    assert beat.process.wait(timeout=60) == 0, beat.log()
    assert outbox_size(app) == 0
    expected = claimed_runs(app)

    def drained() -> Counter | None:
        ran = Counter(SUCCEEDED.findall(worker.log()))
        return ran if len(ran) >= expected else None

    ran = wait_until(drained, 120, what=f"the worker to run {expected} runs")
    return ran, expected


def test_beat_killed_mid_batch_then_taken_over_runs_every_due_run_exactly_once(
    app, start_beat, worker, queue_name, redis_client, key_prefix
):
    make_burst(app, SCHEDULES, queue_name)
    first = start_beat()
    wait_until(lambda: claimed_runs(app) > 0, 60, what="the first batch")
    # Strike while a batch is claimed in SQL and not yet confirmed at the broker.
    wait_until(lambda: outbox_size(app) > 0, 60, interval=0.001, what="a batch in flight")
    first.kill()
    second = start_beat()
    wait_until(
        lambda: (
            (holder := beat_status(redis_client, key_prefix).holder) and holder.endswith(f":{second.pid}")
        ),
        30,
        what="the second beat to take over",
    )
    before = claimed_runs(app)
    wait_until(lambda: claimed_runs(app) >= before + 2 * SCHEDULES, 60, what="two more seconds of runs")
    ran, expected = stop_firing_and_count(app, second, worker)
    assert sum(ran.values()) == len(ran) == expected, [t for t, n in ran.items() if n > 1][:5]


def test_a_paused_beat_resumed_after_a_takeover_sends_nothing(
    app, start_beat, worker, queue_name, redis_client, key_prefix
):
    make_burst(app, SCHEDULES, queue_name)
    first = start_beat()
    wait_until(lambda: claimed_runs(app) > 0, 60, what="the first batch")
    second = start_beat()
    wait_until(lambda: len(beat_status(redis_client, key_prefix).instances) == 2, 30, what="two beats")
    wait_until(lambda: outbox_size(app) > 0, 60, interval=0.001, what="a batch in flight")
    first.process.send_signal(signal.SIGSTOP)
    wait_until(
        lambda: (
            (holder := beat_status(redis_client, key_prefix).holder) and holder.endswith(f":{second.pid}")
        ),
        30,
        what="the standby to take the lock",
    )
    wait_until(lambda: outbox_size(app) == 0, 30, what="the new holder to publish the paused batch")
    first.process.send_signal(signal.SIGCONT)
    wait_until(lambda: "lost the lock" in first.log(), 30, what="the resumed beat to notice")
    ran, expected = stop_firing_and_count(app, second, worker)
    assert sum(ran.values()) == len(ran) == expected, [t for t, n in ran.items() if n > 1][:5]
    first.check_running("the resumed beat")  # it stands by
