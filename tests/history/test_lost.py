"""Runs found nowhere long after they were sent are marked LOST by reconciliation, and only those:
a message still waiting, one a worker holds for its ETA, a run sent a moment ago and a busy worker
that does not answer all keep their runs PENDING. Real Redis broker, real workers."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from dashboard.core import inspect_keys
from dashboard.core.broker import layout_for
from dashboard.core.runs import TaskRun, record_sent
from dashboard.core.staging_keys import StagingKeys
from dashboard.extensions import db
from dashboard.history import lost, store
from dashboard.history.merge import RunUpdate
from dashboard.queues import actions as queue_actions
from dashboard.timeutil import utcnow
from tests.support.servers import CeleryWorker, wait_until

pytestmark = pytest.mark.worker
LOST_AFTER = 600.0


@pytest.fixture
def holding_worker(celery_app, tmp_path, declare_queue):
    """A worker of the test's own on queue ``lost-held``, so what it holds for an ETA leaves with it."""
    queue = declare_queue("lost-held")
    worker = CeleryWorker(dict(os.environ), tmp_path / "holder.log", queues=queue, concurrency=1)
    worker.start(celery_app)
    yield worker
    worker.stop()


def _send(app, celery_app, queue: str, *, sent_ago: float, countdown: float | None = None) -> str:
    task_id = str(uuid.uuid4())
    with app.app_context():
        record_sent(db.session, task_id=task_id, name="tasks.add", args="[1, 2]", kwargs="{}", queue=queue,
                    origin="operator")  # fmt: skip
        db.session.execute(
            update(TaskRun)
            .where(TaskRun.task_id == task_id)
            .values(sent_at=utcnow() - timedelta(seconds=sent_ago))
        )
        db.session.commit()
    celery_app.send_task("tasks.add", args=[1, 2], task_id=task_id, queue=queue, countdown=countdown)
    return task_id


def _state(app, task_id: str) -> TaskRun:
    with app.app_context():
        run = db.session.get(TaskRun, db.session.query(TaskRun.seq).filter_by(task_id=task_id).scalar())
        db.session.expunge(run)
        return run


def test_only_a_run_found_nowhere_long_after_it_was_sent_is_marked_lost_and_news_revives_it(
    app, client, celery_app, redis_client, key_prefix, declare_queue, holding_worker
):
    parked = declare_queue("lost-parked")
    broker = redis_client
    gone = _send(app, celery_app, parked, sent_ago=LOST_AFTER * 2)
    waiting = _send(app, celery_app, parked, sent_ago=LOST_AFTER * 2)
    recent = _send(app, celery_app, parked, sent_ago=1)
    held = _send(app, celery_app, "lost-held", sent_ago=LOST_AFTER * 2, countdown=3600)
    moved = _send(app, celery_app, parked, sent_ago=LOST_AFTER * 2)
    for task_id in (gone, recent, moved):  # the broker loses two messages; one goes to staging
        queue_actions.delete_message(broker, layout_for(celery_app), parked, task_id)
    redis_client.hset(StagingKeys(key_prefix).items, moved, '{"task": "tasks.add"}')
    inspector = celery_app.control.inspect(destination=[holding_worker.hostname], timeout=2)
    wait_until(
        lambda: any(
            r["request"]["id"] == held for r in (inspector.scheduled() or {}).get(holding_worker.hostname, [])
        ),
        timeout=30,
        what="the ETA message held by its worker",
    )

    with app.app_context():
        marked = lost.mark_lost(db.session, redis_client, key_prefix, celery_app, LOST_AFTER)
    assert marked == 1
    run = _state(app, gone)
    assert run.state == "LOST" and "no queue, no worker's hands and no result backend" in run.exception
    assert run.finished_at is not None
    assert {_state(app, t).state for t in (waiting, recent, held, moved)} == {"PENDING"}
    fragment = client.get(f"/history/runs/{gone}", headers={"HX-Request": "true"})
    assert fragment.status_code == 286  # final on the page: it stops polling
    assert client.get("/api/v1/runs?q=state:LOST").get_json()["runs"][0]["id"] == gone

    # A worker seen lately that does not answer: nothing is marked, whatever else holds.
    queue_actions.delete_message(broker, layout_for(celery_app), parked, waiting)
    redis_client.hset(inspect_keys.seen_key(key_prefix), "silent@nowhere", int(utcnow().timestamp() * 1000))
    with app.app_context():
        assert lost.mark_lost(db.session, redis_client, key_prefix, celery_app, LOST_AFTER) == 0
    assert _state(app, waiting).state == "PENDING"

    # Lost is what reconciliation inferred; the run's own news, if it ever comes, wins.
    received = RunUpdate.from_event(
        {
            "type": "task-received",
            "uuid": gone,
            "timestamp": utcnow().timestamp(),
            "hostname": "late@host",
            "retries": 0,
        }
    )
    with app.app_context():
        store.apply_updates(db.session, [received])
    assert _state(app, gone).state == "RECEIVED"


def test_lost_marking_is_off_at_zero(app, celery_app, redis_client, key_prefix):
    with app.app_context():
        assert lost.mark_lost(db.session, redis_client, key_prefix, celery_app, 0) == 0
