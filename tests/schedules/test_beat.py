"""The database beat scheduler, for real: `celery beat` subprocesses, Redis, SQLite, a worker."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import timedelta

from celery.result import AsyncResult

from dashboard.core.beat import beat_status
from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.redis_client import get_celery
from dashboard.schedules import firing, service
from dashboard.schedules.models import Schedule
from dashboard.timeutil import as_utc, utcnow
from tests.schedules.conftest import due_times, sent_messages
from tests.support.servers import wait_until


def make(app, **fields) -> int:
    data = {
        "task": "tasks.add",
        "args": "[1, 2]",
        "kind": "interval",
        "interval_unit": "seconds",
        "enable_now": True,
    }
    data.update(fields)
    with app.app_context():
        return service.create_schedule(db.session, get_celery(), data, max_payload=65536).id


def row(app, schedule_id) -> Schedule | None:
    with app.app_context():
        schedule = db.session.get(Schedule, schedule_id)
        if schedule is not None:
            db.session.expunge(schedule)
        db.session.remove()
        return schedule


def assert_each_due_time_once(messages, step: float):
    dues = due_times(messages)
    assert len(set(dues)) == len(dues), "a due time was fired twice"
    assert all((b - a) == timedelta(seconds=step) for a, b in zip(dues, dues[1:], strict=False)), dues
    assert len({m["id"] for m in messages}) == len(messages)


def test_interval_schedule_fires_on_time_repeatedly_and_runs_on_a_worker(
    app, start_beat, redis_client, queue_name, celery_app, celery_worker, recorder
):
    watched = make(app, name="watched", interval_every=1, queue=queue_name)
    worked = make(app, name="worked", interval_every=1, args="[2, 3]")
    start_beat()
    messages = wait_until(
        lambda: (m := sent_messages(redis_client, queue_name)) and len(m) >= 4 and m, 40, what="4 runs"
    )
    assert_each_due_time_once(messages, 1)
    assert {m["taskdeck_schedule_id"] for m in messages} == {str(watched)}

    # Beat notes each run's origin in Redis in the script that sends it; the recorder folds
    # those notes into history, so a row with its origin follows each message.
    def recorded():
        with app.app_context():
            found = {r.task_id: r for r in db.session.query(TaskRun).filter_by(origin_ref=str(watched))}
            db.session.remove()
        return found if {m["id"] for m in messages} <= set(found) else None

    runs = wait_until(recorded, 20, what="a history row for each sent run")
    assert {r.origin for r in runs.values()} == {"schedule"}
    # The schedule on the default queue is consumed by the real worker.
    last = wait_until(lambda: row(app, worked).last_task_id, 20, what="a run of 'worked'")
    assert AsyncResult(last, app=celery_app).get(timeout=20) == 5
    assert row(app, watched).total_run_count >= 4


def test_edits_take_effect_without_restart(app, start_beat, redis_client, queue_name, declare_queue):
    changed, disabled, deleted, control = (
        declare_queue(f"{queue_name}-{n}") for n in ("changed", "disabled", "deleted", "control")
    )
    ids = {q: make(app, name=q, interval_every=1, queue=q) for q in (changed, disabled, deleted, control)}
    start_beat()
    wait_until(
        lambda: all(len(sent_messages(redis_client, q)) >= 2 for q in ids), 40, what="every schedule firing"
    )

    with app.app_context():
        service.update_schedule(
            db.session, get_celery(), ids[changed], {"interval_every": 3}, max_payload=65536, partial=True
        )
        service.set_enabled(db.session, ids[disabled], False)
        service.delete_schedule(db.session, ids[deleted])
        edited_at = utcnow()
    frozen = {q: len(sent_messages(redis_client, q)) for q in (disabled, deleted)}
    before = len(sent_messages(redis_client, changed))
    wait_until(
        lambda: len(sent_messages(redis_client, changed)) >= before + 3, 40, what="3 runs at the new interval"
    )
    # Runs claimed before the edit was seen may still arrive (at most one tick's worth): only
    # the runs due after the edit are judged.
    after = [
        d for d in due_times(sent_messages(redis_client, changed)) if d > edited_at + timedelta(seconds=1.5)
    ]
    assert len(after) >= 2
    assert all((b - a) == timedelta(seconds=3) for a, b in zip(after, after[1:], strict=False)), after
    control_dues = due_times(sent_messages(redis_client, control))
    assert sum(d > edited_at + timedelta(seconds=2) for d in control_dues) >= 5
    for q in (disabled, deleted):
        late = [
            d for d in due_times(sent_messages(redis_client, q)) if d > edited_at + timedelta(seconds=1.5)
        ]
        assert late == [], q
        assert len(sent_messages(redis_client, q)) <= frozen[q] + 1


def test_once_schedule_fires_exactly_once_and_disables_itself(
    app, start_beat, redis_client, queue_name, declare_queue
):
    control = declare_queue(f"{queue_name}-control")
    make(app, name="control", interval_every=1, queue=control)
    run_at = (utcnow() + timedelta(seconds=3)).replace(microsecond=0, tzinfo=None).isoformat()
    once = make(app, name="once", kind="once", run_at=run_at, queue=queue_name)
    start_beat()
    wait_until(lambda: not row(app, once).enabled, 40, what="the once schedule to disable itself")
    seen = len(sent_messages(redis_client, control))
    wait_until(lambda: len(sent_messages(redis_client, control)) >= seen + 3, 20, what="three more beat runs")
    messages = sent_messages(redis_client, queue_name)
    assert len(messages) == 1
    schedule = row(app, once)
    assert schedule.total_run_count == 1 and schedule.next_run_at is None
    assert schedule.last_task_id == messages[0]["id"]


def test_two_beats_fire_each_due_run_exactly_once_and_the_standby_takes_over(
    app, start_beat, redis_client, queue_name, key_prefix
):
    make(app, name="shared", interval_every=1, queue=queue_name)
    first = start_beat()
    second = start_beat()
    wait_until(lambda: len(sent_messages(redis_client, queue_name)) >= 4, 40, what="4 runs")
    status = wait_until(
        lambda: (s := beat_status(redis_client, key_prefix)) and len(s.instances) == 2 and s,
        20,
        what="two beat heartbeats",
    )
    assert sorted(i.role for i in status.instances) == ["active", "standby"]
    holder = first if status.holder.endswith(f":{first.pid}") else second
    holder.kill()
    count = len(sent_messages(redis_client, queue_name))
    wait_until(
        lambda: len(sent_messages(redis_client, queue_name)) >= count + 4, 40, what="the standby to take over"
    )
    assert beat_status(redis_client, key_prefix).holder != status.holder
    assert_each_due_time_once(sent_messages(redis_client, queue_name), 1)


def test_killed_beat_restarted_neither_loses_nor_repeats_a_run(app, start_beat, redis_client, queue_name):
    schedule_id = make(app, name="survivor", interval_every=1, queue=queue_name)
    beat = start_beat()
    wait_until(lambda: len(sent_messages(redis_client, queue_name)) >= 2, 40, what="2 runs")
    beat.kill()
    killed_at = utcnow()
    start_beat()
    wait_until(
        lambda: due_times(sent_messages(redis_client, queue_name))[-1] > killed_at + timedelta(seconds=3),
        40,
        what="runs due after the restart",
    )
    messages = sent_messages(redis_client, queue_name)
    assert_each_due_time_once(messages, 1)
    schedule = row(app, schedule_id)
    assert schedule.missed_run_count == 0
    # Every claimed run was published: the run counter and the broker agree.
    assert schedule.total_run_count in (len(messages), len(messages) + 1)
    assert as_utc(schedule.last_run_at) is not None


def test_run_missed_while_beat_was_down_fires_at_start_up_within_grace(
    app, start_beat, redis_client, queue_name
):
    run_at = (utcnow() + timedelta(seconds=1)).replace(microsecond=0, tzinfo=None).isoformat()
    once = make(app, name="late", kind="once", run_at=run_at, queue=queue_name)
    wait_until(
        lambda: utcnow() > as_utc(row(app, once).next_run_at) + timedelta(seconds=1),
        10,
        what="the due time to pass",
    )
    start_beat()
    wait_until(lambda: len(sent_messages(redis_client, queue_name)) == 1, 40, what="the late run")
    assert row(app, once).missed_run_count == 0


def test_runs_missed_beyond_the_grace_period_are_counted_not_fired(app):
    schedule_id = make(app, name="stale", interval_every=10)
    with app.app_context():
        schedule = db.session.get(Schedule, schedule_id)
        due = as_utc(schedule.next_run_at)
        run = firing.ScheduleRun.from_row(schedule)
        later = due + timedelta(seconds=95)  # due times at +0, +10, ... +90: ten of them
        [claim] = firing.claim_due_runs(db.session, [run], later, grace=5)
        assert claim.outcome == "missed" and claim.missed == 9
        assert claim.next_run_at == due + timedelta(seconds=90)  # 5 s old: still within grace
        schedule = db.session.get(Schedule, schedule_id)
        assert (schedule.missed_run_count, schedule.total_run_count) == (9, 0)
        # A second claim on the same due time (another beat) loses.
        assert firing.claim_due_runs(db.session, [run], later, grace=5)[0].outcome == "lost"
        assert db.session.query(TaskRun).count() == 0


def test_sigterm_during_a_batch_sends_every_claimed_run_once_and_exits_0(
    app, start_beat, redis_client, queue_name
):
    """300 schedules due every second keep beat publishing most of the time, so the signal
    usually lands inside a batch: beat finishes it, stops, and exits 0 (Celery's own handler
    closed the scheduler mid-batch, abandoning claimed runs, and exited 1)."""
    ids = [make(app, name=f"burst-{index}", interval_every=1, queue=queue_name) for index in range(300)]
    beat = start_beat()
    wait_until(lambda: len(sent_messages(redis_client, queue_name)) >= 1, 60, what="the first runs")
    beat.process.send_signal(signal.SIGTERM)
    assert beat.process.wait(timeout=60) == 0, beat.log()
    messages = sent_messages(redis_client, queue_name)
    fired = Counter(m["taskdeck_schedule_id"] for m in messages)
    assert len({(m["taskdeck_schedule_id"], m["taskdeck_due_at"]) for m in messages}) == len(messages)
    # Every run beat claimed (counted in SQL) reached the broker, and nothing else did.
    assert {str(i): row(app, i).total_run_count for i in ids} == {str(i): fired[str(i)] for i in ids}
