"""One rule for sending: sent first, recorded only once the broker took it, 503 and no row otherwise.

The managed app is pointed at a broker of its own (a second redis-server): each entry point runs
once with that broker up (a history row with its origin) and once after it is stopped (503 and no
row). Beat, a process, logs the refusal and goes on, leaving no PENDING run behind.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import redis
from celery import Celery

from dashboard import mount
from dashboard.core.beat import beat_status
from dashboard.core.runs import TaskRun, record_sent
from dashboard.extensions import db
from dashboard.schedules import outbox
from dashboard.schedules.models import Schedule
from tests.schedules.conftest import BeatProcess
from tests.support.servers import RedisServer, wait_until


@pytest.fixture
def spare_broker(tmp_path):
    """A broker server of this test's own, which the test may stop."""
    server = RedisServer(tmp_path / "broker").start()
    yield server
    server.stop()


@pytest.fixture
def broker_app(app, celery_app, spare_broker, redis_server, monkeypatch):
    """The dashboard with its Celery app on ``spare_broker`` (results still on the session Redis).

    A Celery app of its own, so the session's app (shared by every other test) keeps its broker
    pool; Celery's ``broker_url`` prefers the ``CELERY_BROKER_URL`` environment variable over its
    configuration, so that is pointed at the spare server for this test too.
    """
    monkeypatch.setenv("CELERY_BROKER_URL", spare_broker.url)
    own = Celery("taskdeck-dispatch-test", set_as_current=False)
    own.conf.update(dict(celery_app.conf.changes))
    own.conf.update(broker_url=spare_broker.url, result_backend=redis_server.url)
    monkeypatch.setattr(mount.first(app), "celery", own)
    app.config["CELERY_BROKER_URL"] = spare_broker.url
    yield app
    own.close()


def rows(app) -> dict[str, TaskRun]:
    with app.app_context():
        found = {run.task_id: run for run in db.session.scalars(db.select(TaskRun))}
        db.session.expunge_all()
        return found


def waiting_ids(server: RedisServer, queue: str = "celery") -> list[str]:
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        return [json.loads(raw)["headers"]["id"] for raw in client.lrange(queue, 0, -1)]
    finally:
        client.close()


# Each entry point: prepare what it needs once, and return (send again, origin, origin_ref).


def run_direct(app, client):
    return (lambda: client.post("/api/v1/tasks/tasks.add/run", json={"args": [1, 2]})), "operator", None


def retry_run(app, client):
    with app.app_context():
        old = record_sent(
            db.session,
            task_id=f"old-{uuid.uuid4().hex}",
            name="tasks.add",
            args="[1, 2]",
            kwargs="{}",
            queue="celery",
            origin="other",
        ).task_id
    return (lambda: client.post(f"/api/v1/runs/{old}/retry", json={})), "operator", None


def trigger_schedule(app, client):
    created = client.post("/api/v1/schedules", json=SCHEDULE)
    assert created.status_code == 201, created.get_json()
    schedule_id = created.get_json()["id"]
    return (
        (lambda: client.post(f"/api/v1/schedules/{schedule_id}/trigger", json={})),
        "schedule",
        str(schedule_id),
    )


def auto_submit(app, client):
    body = {"args": [1, 2], "submission": "auto"}
    return (lambda: client.post("/api/v1/tasks/tasks.add/run", json=body)), "operator", None


SCHEDULE = {"name": "report", "task": "tasks.add", "kind": "cron", "cron": "*/5 * * * *", "args": [1, 2]}
ENTRY_POINTS = {
    "api run direct": run_direct,
    "history retry": retry_run,
    "schedule trigger now": trigger_schedule,
    "auto submission to another broker server": auto_submit,
}


@pytest.mark.parametrize("entry", list(ENTRY_POINTS), ids=list(ENTRY_POINTS))
def test_a_sent_run_is_recorded_with_its_origin_and_a_refused_one_answers_503_and_leaves_no_row(
    broker_app, client, spare_broker, entry
):
    send, origin, origin_ref = ENTRY_POINTS[entry](broker_app, client)
    before = set(rows(broker_app))
    response = send()
    assert response.status_code in (201, 202), response.get_json()
    body = response.get_json()
    [new_id] = set(rows(broker_app)) - before
    assert new_id == body.get("task_id", body.get("id"))  # the history API names it ``id``
    run = rows(broker_app)[new_id]
    assert (run.origin, run.origin_ref, run.state, run.queue) == (origin, origin_ref, "PENDING", "celery")
    assert waiting_ids(spare_broker) == [new_id]  # the row stands for a message that exists

    spare_broker.stop()
    before = rows(broker_app)
    response = send()
    assert response.status_code == 503, response.get_json()
    assert "the broker did not accept the task" in response.get_json()["error"]
    assert set(rows(broker_app)) == set(before)  # no PENDING row for a message that never existed


def test_a_refused_trigger_leaves_the_schedule_untouched(broker_app, client, spare_broker):
    schedule_id = client.post("/api/v1/schedules", json=SCHEDULE).get_json()["id"]
    spare_broker.stop()
    assert client.post(f"/api/v1/schedules/{schedule_id}/trigger", json={}).status_code == 503
    with broker_app.app_context():
        schedule = db.session.get(Schedule, schedule_id)
        assert (schedule.total_run_count or 0, schedule.last_task_id) == (0, None)


@pytest.fixture
def away_broker(tmp_path):
    """A Redis server for the beat's broker, stopped: connections to its port are refused."""
    server = RedisServer(tmp_path / "gone").start()
    server.stop()
    yield server
    server.stop()


@pytest.fixture
def beat_without_broker(app, database_url, key_prefix, redis_server, away_broker, tmp_path):
    """A beat process whose broker is not running (its lock Redis is up)."""
    import os

    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        TASKDECK_KEY_PREFIX=key_prefix,
        REDIS_URL=redis_server.url,
        CELERY_BROKER_URL=away_broker.url,
        CELERY_RESULT_BACKEND=redis_server.url,
        SECRET_KEY="test-secret",
    )
    beat = BeatProcess(env, tmp_path / "beat.log")
    yield beat
    beat.stop()


def test_beat_keeps_a_refused_run_claimed_and_publishes_it_once_the_broker_is_back(
    app, client, beat_without_broker, away_broker, redis_client, key_prefix
):
    created = client.post(
        "/api/v1/schedules",
        json={
            "name": "every-second",
            "task": "tasks.add",
            "kind": "interval",
            "interval_every": 1,
            "interval_unit": "seconds",
            "args": [1, 2],
            "enable_now": True,
        },
    )
    assert created.status_code == 201, created.get_json()
    schedule_id = created.get_json()["id"]
    beat_without_broker.start()
    wait_until(
        lambda: "beat: could not publish 1 claimed run(s)" in beat_without_broker.log(),
        60,
        what="beat to meet the refusal",
    )
    beat_without_broker.check_running("beat")  # it goes on after a refusal
    with app.app_context():
        assert outbox.pending_count(db.session) == 1  # claimed, kept, not lost
        claimed = db.session.get(Schedule, schedule_id).last_task_id
        db.session.remove()
    assert rows(app) == {}  # nothing recorded for a message the broker never took
    # Shown, not only logged: the beat tile and /metrics count the runs waiting for the broker.
    wait_until(lambda: beat_status(redis_client, key_prefix).unconfirmed == 1, 30, what="the count shown")
    assert re.search(
        r"^taskdeck_beat_unconfirmed_runs 1\.0$", client.get("/metrics").get_data(as_text=True), re.M
    )
    tile = client.get("/overview/tiles/beat", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "1 claimed runs waiting for the broker" in tile

    away_broker.start()  # the broker comes back, on the same port
    broker = redis.Redis.from_url(away_broker.url)

    def first_message():
        raw = broker.lrange("celery", -1, -1)
        return raw and json.loads(raw[0])["headers"]

    headers = wait_until(first_message, 60, what="the claimed run at the broker")
    assert headers["id"] == claimed  # the run claimed while the broker was away, under its id
    with app.app_context():
        wait_until(lambda: outbox.pending_count(db.session) == 0, 30, what="the outbox to empty")
    ids = [json.loads(raw)["headers"]["id"] for raw in broker.lrange("celery", 0, -1)]
    assert len(ids) == len(set(ids))
    wait_until(lambda: beat_status(redis_client, key_prefix).unconfirmed == 0, 30, what="the count cleared")
