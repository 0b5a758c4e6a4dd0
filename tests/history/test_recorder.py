"""End to end: a real worker sends events, a real recorder writes them, the pages show them."""

from __future__ import annotations

import json
import uuid

import pytest
import redis

from dashboard.core.runs import record_sent
from dashboard.extensions import db
from tests.history.conftest import RecorderProcess, wait_for_state
from tests.support.servers import RedisServer, free_port, wait_until

pytestmark = pytest.mark.worker


def send(app, celery_app, name: str, *, args=(), kwargs=None, origin: str | None = None) -> str:
    """Send a task; with ``origin``, note it first the way the dashboard's own sends do."""
    task_id = str(uuid.uuid4())
    if origin:
        with app.app_context():
            record_sent(
                db.session,
                task_id=task_id,
                name=name,
                args=json.dumps(list(args)),
                kwargs=json.dumps(kwargs or {}),
                queue="celery",
                origin=origin,
                origin_ref="ref-1",
            )
    celery_app.send_task(name, args=list(args), kwargs=kwargs or {}, task_id=task_id)
    return task_id


def test_success_is_recorded_with_runtime_worker_and_origin(
    app, celery_app, recorder, fetch_run, celery_worker
):
    mine = send(app, celery_app, "tasks.add", args=(2, 3), origin="operator")
    theirs = send(app, celery_app, "tasks.add", args=(4, 5))
    run = wait_for_state(fetch_run, mine, "SUCCESS")
    assert (run.origin, run.origin_ref, run.name, run.result) == ("operator", "ref-1", "tasks.add", "5")
    assert run.runtime is not None and run.runtime >= 0
    assert run.worker == celery_worker.hostname
    assert run.queue == "celery"
    assert run.started_at is not None and run.finished_at is not None
    other = wait_for_state(fetch_run, theirs, "SUCCESS")
    assert (other.origin, other.result, other.args) == ("other", "9", "[4, 5]")


def test_failure_is_recorded_with_exception_and_traceback(app, celery_app, recorder, fetch_run):
    task_id = send(
        app, celery_app, "tasks.always_fails", kwargs={"message": "disk on fire"}, origin="staging"
    )
    run = wait_for_state(fetch_run, task_id, "FAILURE")
    assert "RuntimeError" in run.exception and "disk on fire" in run.exception
    assert "Traceback" in run.traceback and "disk on fire" in run.traceback
    assert run.runtime is not None
    assert run.origin == "staging"


def test_retries_then_success_ends_in_success_with_retry_count(app, celery_app, recorder, fetch_run):
    task_id = send(app, celery_app, "tasks.flaky", kwargs={"fail_times": 2}, origin="schedule")
    run = wait_for_state(fetch_run, task_id, "SUCCESS")
    assert run.retries == 2
    assert run.result == "'succeeded after 2 retries'" or "succeeded after 2 retries" in run.result
    assert run.exception is None
    assert run.origin == "schedule"
    assert run.runtime is not None


def test_progress_is_visible_then_terminate_revokes_the_long_task(
    app, client, celery_app, recorder, fetch_run
):
    task_id = send(
        app, celery_app, "tasks.long_task", kwargs={"steps": 60, "step_seconds": 0.25}, origin="operator"
    )
    run = wait_until(
        lambda: (r := fetch_run(task_id)) is not None and r.state == "PROGRESS" and r.progress and r,
        timeout=45,
        what="PROGRESS recorded",
    )
    assert run.progress["meta"]["total"] == 60
    page = client.get(f"/history/runs/{task_id}").get_data(as_text=True)
    assert "PROGRESS" in page and "<progress" in page
    row = client.get(f"/history/live?live={task_id}", headers={"HX-Request": "true"})
    assert row.status_code == 200 and "<progress" in row.get_data(as_text=True)

    response = client.post(f"/api/v1/runs/{task_id}/revoke", json={"terminate": True})
    assert response.status_code == 202
    run = wait_for_state(fetch_run, task_id, "REVOKED")
    assert "terminated" in run.exception
    assert run.runtime is not None
    assert run.origin == "operator"
    assert client.post(f"/api/v1/runs/{task_id}/revoke", json={}).status_code == 400


def test_recorder_restart_loses_nothing_after_reconciliation(
    app, celery_app, celery_worker, start_recorder, fetch_run
):
    first = start_recorder()
    before = send(app, celery_app, "tasks.add", args=(1, 1))
    wait_for_state(fetch_run, before, "SUCCESS")
    running = send(app, celery_app, "tasks.long_task", kwargs={"steps": 8, "step_seconds": 0.25})
    wait_until(
        lambda: (r := fetch_run(running)) and r.state in ("STARTED", "PROGRESS"), timeout=45, what="started"
    )
    first.stop()

    during = [send(app, celery_app, "tasks.add", args=(i, i)) for i in range(5)]
    failed = send(app, celery_app, "tasks.always_fails")
    for task_id in during:
        celery_app.AsyncResult(task_id).get(timeout=30)
    celery_app.AsyncResult(running).get(timeout=30)
    celery_app.AsyncResult(failed).get(timeout=30, propagate=False)
    assert all(fetch_run(t) is None for t in during)

    start_recorder()
    for index, task_id in enumerate(during):
        run = wait_for_state(fetch_run, task_id, "SUCCESS")
        assert (run.name, run.result, run.args) == ("tasks.add", str(2 * index), f"[{index}, {index}]")
        assert run.worker == celery_worker.hostname
    assert wait_for_state(fetch_run, running, "SUCCESS").started_at is not None
    assert "RuntimeError" in wait_for_state(fetch_run, failed, "FAILURE").exception
    assert fetch_run(before).state == "SUCCESS"


def test_retry_creates_a_new_run_linked_both_ways(app, client, celery_app, recorder, fetch_run):
    old = send(app, celery_app, "tasks.always_fails", kwargs={"message": "again"}, origin="schedule")
    wait_for_state(fetch_run, old, "FAILURE")
    response = client.post(f"/api/v1/runs/{old}/retry", json={})
    assert response.status_code == 201
    new = response.get_json()["id"]
    assert new != old
    run = wait_for_state(fetch_run, new, "FAILURE")
    assert (run.retry_of, run.origin, run.name) == (old, "operator", "tasks.always_fails")
    assert "again" in run.exception
    old_page = client.get(f"/history/runs/{old}").get_data(as_text=True)
    assert f'href="/history/runs/{new}"' in old_page
    new_page = client.get(f"/history/runs/{new}").get_data(as_text=True)
    assert f'href="/history/runs/{old}"' in new_page


def test_hostile_result_from_a_real_task_is_escaped_and_fully_downloadable(
    app, client, celery_app, recorder, fetch_run
):
    hostile = "<script>alert('pwn')</script>" + "q" * 30_000
    task_id = send(app, celery_app, "tasks.send_daily_report", kwargs={"recipient": hostile})
    run = wait_until(
        lambda: (r := fetch_run(task_id)) and r.state == "SUCCESS" and r.result and hostile in r.result and r,
        timeout=45,
        what="complete result",
    )
    page = client.get(f"/history/runs/{run.task_id}").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    download = client.get(f"/history/runs/{task_id}/download/result").get_data(as_text=True)
    assert hostile in download


def test_a_recorder_started_before_redis_waits_for_it_and_then_records(database_url, key_prefix, tmp_path):
    """Under ``make run`` every process starts at once: the recorder must outlive a Redis that is
    not listening yet, instead of exiting (and taking honcho's other processes down with it)."""
    server = RedisServer(tmp_path / "late-redis", port=free_port())
    log_path = tmp_path / "recorder.log"
    recorder = RecorderProcess(
        database_url,
        key_prefix,
        log_path,
        REDIS_URL=server.url,
        CELERY_BROKER_URL=server.url,
        CELERY_RESULT_BACKEND=server.url,
    )
    recorder.spawn()
    try:
        wait_until(
            lambda: log_path.exists() and "Redis unreachable" in log_path.read_text(),
            timeout=60,
            what="the recorder noticing that Redis is not up",
        )
        recorder.check_running("recorder")
        server.start()
        client = redis.Redis.from_url(server.url)
        wait_until(lambda: recorder._active(client), timeout=60, interval=0.1, what="the recorder active")
        client.close()
    finally:
        recorder.stop()
        server.stop()
