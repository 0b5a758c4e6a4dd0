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


def _retried_three_times(countdown: float, lag: float) -> dict[str, list[tuple[str, float, dict]]]:
    """A run that fails twice and then succeeds, as three streams of events: the sender's, the
    worker's main process (received) and the processes that ran each attempt. ``lag``: how long
    after a retry's own message went out the attempt that sent it tells of its end."""
    sender = [("task-sent", 0.0, {"retries": 0})]
    main = [("task-received", 0.1, {"retries": 0})]
    children = []
    start = 0.2
    for attempt in (1, 2, 3):
        children.append(("task-started", start, {}))
        if attempt == 3:
            children.append(("task-succeeded", start + 0.1, {"result": "'ok'", "runtime": 0.1}))
            break
        sent = start + 0.05
        children.append(("task-sent", sent, {"retries": attempt}))  # the retry's message
        main.append(("task-received", sent + 0.01, {"retries": attempt, "eta": "2030-01-01T00:00:00+00:00"}))
        exception = f"Retry(Retry(...), ConnectionError('attempt {attempt}'), {countdown})"
        children.append(("task-retried", sent + lag, {"exception": exception}))
        start = sent + lag + countdown + 0.01
    return {"sender": sender, "main": main, "children": children}


@given(
    countdown=st.floats(min_value=0.0, max_value=5.0),
    lag=st.floats(min_value=0.0, max_value=1.0),
    picks=st.lists(st.sampled_from(["sender", "main", "children"]), min_size=20, max_size=20),
)
def test_every_attempt_keeps_its_own_news_whatever_the_arrival_order(countdown, lag, picks):
    """The class: a retried run's events from three processes interleaved in any order (each
    process's own in order). Every entry lands in its attempt: three starts, two retries with
    their exceptions, one success, and the run ends SUCCESS after three attempts."""
    streams = _retried_three_times(countdown, lag)
    arrival = []
    for pick in picks + ["sender", "main", "children"] * 10:
        if streams[pick]:
            arrival.append(streams[pick].pop(0))
    run = replay(*(event(kind, at, **fields) for kind, at, fields in arrival))
    assert (run.state, run.retries) == ("SUCCESS", 2)
    entries = run.timeline["entries"]
    by_kind = {
        kind: [e["n"] for e in entries if e["k"] == kind] for kind in ("started", "retried", "succeeded")
    }
    assert sorted(by_kind["started"]) == [1, 2, 3]
    assert sorted(by_kind["retried"]) == [1, 2]
    assert by_kind["succeeded"] == [3]
    exceptions = {e["n"]: e["x"] for e in entries if e["k"] == "retried"}
    assert exceptions == {1: "ConnectionError('attempt 1')", 2: "ConnectionError('attempt 2')"}
    assert sorted(e["n"] for e in entries if e["k"] == "received") == [1, 2, 3]


def test_a_long_history_keeps_its_first_entries_and_the_latest_ones_bounded():
    from dashboard.history import timeline

    updates = [event("task-sent", 0, retries=0)]
    for attempt in range(200):
        updates += [
            event("task-received", attempt * 10 + 1, retries=attempt),
            event("task-started", attempt * 10 + 2),
            event("task-retried", attempt * 10 + 3, exception="x" * 5000),
        ]
    run = replay(*updates)
    entries = run.timeline["entries"]
    assert len(entries) == timeline.LIMIT
    assert run.timeline["dropped"] == len(updates) - timeline.LIMIT
    assert entries[0]["k"] == "sent" and entries[-1] == {**entries[-1], "k": "retried", "n": 200}
    assert all(len(e.get("x", "")) <= timeline.TEXT_LIMIT + 60 for e in entries)


def test_a_retry_is_not_its_own_parent():
    run = replay(
        event("task-received", 1, retries=0, parent_id=None, root_id="t1"),
        event("task-sent", 2, retries=1, parent_id="t1", root_id="t1"),
    )
    assert run.parent_id is None and run.root_id == "t1"
