"""The merge rules on their own: state precedence, attempts and timestamps."""

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.history.merge import VALUE_LIMIT, RunState, RunUpdate, bounded, merge

T0 = 1_700_000_000.0


def event(kind: str, at: float, **fields) -> RunUpdate:
    return RunUpdate.from_event(
        {"type": kind, "uuid": "t1", "timestamp": T0 + at, "hostname": "w1@h", **fields}
    )


def replay(*updates: RunUpdate) -> RunState:
    run = None
    for update in updates:
        run = merge(run, update)
    return run


def test_events_in_order_end_in_success_with_runtime():
    run = replay(
        event("task-sent", 0, name="tasks.add", args="(1, 2)", kwargs="{}", queue="celery", retries=0),
        event("task-received", 1, name="tasks.add", retries=0),
        event("task-started", 2),
        event("task-succeeded", 3, result="3", runtime=0.9),
    )
    assert (run.state, run.result, run.runtime, run.worker, run.name) == (
        "SUCCESS",
        "3",
        0.9,
        "w1@h",
        "tasks.add",
    )


@pytest.mark.parametrize("late", ["task-started", "task-received", "task-sent", "task-retried"])
def test_late_event_never_moves_a_finished_run_backwards(late):
    run = replay(
        event("task-received", 1), event("task-succeeded", 3, result="ok", runtime=1.0), event(late, 2)
    )
    assert run.state == "SUCCESS"
    assert run.result == "ok"


def test_late_started_fills_missing_start_time_without_changing_state():
    run = replay(event("task-succeeded", 3, result="ok"), event("task-started", 2))
    assert run.state == "SUCCESS"
    assert run.started_at == datetime.fromtimestamp(T0 + 2, UTC)


def test_received_after_started_keeps_started():
    assert replay(event("task-started", 2), event("task-received", 1)).state == "STARTED"


def test_retry_then_next_attempt_started_is_accepted():
    run = replay(
        event("task-received", 1, retries=0),
        event("task-started", 2),
        event("task-retried", 3, exception="ConnectionError('x')"),
        event("task-received", 4, retries=1),
        event("task-started", 5),
    )
    assert run.state == "STARTED"
    assert run.retries == 1
    assert run.finished_at is None


def test_started_of_the_old_attempt_arriving_after_retry_is_ignored():
    run = replay(event("task-started", 2), event("task-retried", 3), event("task-started", 2))
    assert run.state == "RETRY"


def test_old_attempt_retry_arriving_late_does_not_reopen_new_attempt():
    run = replay(
        event("task-received", 4, retries=1),
        event("task-started", 5),
        event("task-retried", 3),  # attempt 0's retry, delivered late
    )
    assert run.state == "STARTED"


def test_final_after_retry_wins_and_late_retry_is_ignored():
    run = replay(event("task-succeeded", 9, result="done"), event("task-retried", 3))
    assert run.state == "SUCCESS"


def test_progress_from_backend_moves_started_forward_and_updates():
    now = datetime.now(UTC)
    run = replay(
        event("task-started", 2),
        RunUpdate.from_backend("t1", {"status": "PROGRESS", "result": {"current": 1, "total": 4}}, now),
        RunUpdate.from_backend("t1", {"status": "PROGRESS", "result": {"current": 3, "total": 4}}, now),
    )
    assert run.state == "PROGRESS"
    assert run.progress["meta"] == {"current": 3, "total": 4}
    assert replay(
        event("task-succeeded", 9), RunUpdate.from_backend("t1", {"status": "PROGRESS"}, now)
    ).state == ("SUCCESS")


def test_backend_record_completes_values_of_a_finished_run():
    now = datetime.now(UTC)
    meta = {
        "status": "SUCCESS",
        "result": {"big": "x" * 5000},
        "args": [1],
        "kwargs": {"a": 2},
        "date_done": None,
    }
    run = replay(
        event("task-succeeded", 3, result="{'big': 'xxx...'}"), RunUpdate.from_backend("t1", meta, now)
    )
    assert run.state == "SUCCESS"
    assert "x" * 5000 in run.result
    assert run.args == "[1]"


def test_revoked_event_records_termination():
    run = replay(event("task-started", 1), event("task-revoked", 2, terminated=True, signum=15))
    assert run.state == "REVOKED"
    assert "terminated" in run.exception


def test_values_are_bounded_and_say_so():
    text = bounded("y" * (VALUE_LIMIT + 10))
    assert text.startswith("y" * VALUE_LIMIT)
    assert "10 more characters not stored" in text


def test_events_without_a_task_are_ignored():
    assert RunUpdate.from_event({"type": "worker-heartbeat", "hostname": "w"}) is None


def test_a_worker_whose_clock_is_behind_the_sender_still_moves_the_run_forward():
    run = replay(
        event("task-sent", 60, name="tasks.add"), event("task-received", 1), event("task-started", 2)
    )
    assert (run.state, run.worker) == ("STARTED", "w1@h")
    assert run.sent_at == datetime.fromtimestamp(T0 + 60, UTC)


@given(
    skew=st.floats(min_value=-3600, max_value=3600),
    gap=st.floats(min_value=0, max_value=5),
    order=st.permutations(["task-sent", "task-received", "task-started"]),
)
def test_any_arrival_order_and_sender_clock_skew_end_in_the_furthest_state(skew, gap, order):
    """The class: one attempt, news in any order, the sender's clock off by up to an hour either
    way; the worker's own events keep their order. The run ends where the worker got to."""
    times = {"task-sent": skew, "task-received": 1.0, "task-started": 1.0 + gap}
    run = replay(*(event(kind, times[kind]) for kind in order))
    assert run.state == "STARTED"
    assert run.started_at == datetime.fromtimestamp(T0 + 1.0 + gap, UTC)
