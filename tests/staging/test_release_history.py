"""Releases leave their history origin in Redis in the same script, several heads at a time."""

from __future__ import annotations

import json
import uuid

import pytest

from dashboard.core import messages, origins
from dashboard.staging import dispatcher, service
from dashboard.staging.keys import StagingKeys, release_items
from tests.history.conftest import RecorderProcess
from tests.staging.test_held import stage_raw
from tests.support.servers import wait_until


def entries(redis_client, prefix: str) -> list[origins.OriginEntry]:
    raw = redis_client.lrange(origins.origins_key(prefix), 0, -1)
    return [origins.OriginEntry.from_json(text) for text in raw]


def run_of(app, task_id: str):
    from dashboard.core.runs import TaskRun
    from dashboard.extensions import db

    with app.app_context():
        run = db.session.query(TaskRun).filter_by(task_id=task_id).one_or_none()
        if run is not None:
            db.session.expunge(run)
        return run


@pytest.fixture
def queue(redis_client):
    name = f"release-history-{uuid.uuid4().hex[:8]}"
    yield name
    redis_client.delete(name)


def test_a_release_through_the_dispatcher_is_in_the_history_with_its_origin(
    app, stage, dispatchers, redis_client, key_prefix, database_url, queue, tmp_path
):
    service.set_policy(redis_client, key_prefix, {"state": "paused", "low_water": 10})
    ids = stage(3, queue=queue)
    recorder = RecorderProcess(database_url, key_prefix, tmp_path / "recorder.log").start(redis_client)
    try:
        dispatchers.start("a")
        service.set_policy(redis_client, key_prefix, {"state": "running"})
        for item_id in ids:
            run = wait_until(
                lambda i=item_id: (r := run_of(app, i)) is not None and r.origin == "staging" and r,
                timeout=30,
                what=f"run {item_id} in the history with its origin",
            )
            assert (run.origin_ref, run.name, run.queue, run.state) == (
                item_id,
                "tasks.add",
                queue,
                "PENDING",
            )
        assert redis_client.llen(queue) == 3
        wait_until(lambda: redis_client.llen(origins.origins_key(key_prefix)) == 0, what="the entries folded")
        recorder.check_running("recorder")
    finally:
        recorder.stop()


def test_several_heads_go_in_one_script_up_to_the_low_water_mark_exactly(
    app, celery_app, stage, order, redis_client, key_prefix, queue
):
    ids = stage(6, queue=queue)
    result = service.release_heads(
        redis_client, celery_app, key_prefix, limit=6, policy=service.Policy(low_water=4)
    )
    assert [outcome.item_id for outcome in result.released] == ids[:4]
    assert (result.stopped.item_id, result.stopped.reason) == (ids[4], "busy")
    assert redis_client.llen(queue) == 4 and order() == ids[4:]
    noted = entries(redis_client, key_prefix)
    assert [(e.task_id, e.origin, e.origin_ref, e.queue) for e in noted] == [
        (item_id, "staging", item_id, queue) for item_id in ids[:4]
    ]
    assert [json.loads(e.args) for e in noted] == [[i, 1] for i in range(4)]


def test_under_a_rate_limit_a_batch_releases_one_item(
    app, celery_app, stage, order, redis_client, key_prefix, queue
):
    ids = stage(3, queue=queue)
    policy = service.Policy(low_water=100, max_rate=0.1)
    result = service.release_heads(redis_client, celery_app, key_prefix, limit=3, policy=policy)
    assert [o.item_id for o in result.released] == ids[:1] and result.stopped.reason == "rate"
    assert order() == ids[1:] and len(entries(redis_client, key_prefix)) == 1


def test_a_batch_stops_at_an_item_edited_since_its_message_was_built(
    app, celery_app, stage, order, redis_client, key_prefix, queue
):
    first, second = stage(2, queue=queue)
    keys = StagingKeys(key_prefix)
    batch = []
    for item_id in (first, second):
        raw = redis_client.hget(keys.items, item_id)
        item = service.StagingItem.from_json(item_id, raw)
        sent = service.outgoing(item, origin="staging", origin_ref=item_id)
        batch.append((item_id, raw, messages.prepare(celery_app, item), origins.entry(sent, queue, 1.0)))
    edited = service.build_item(
        celery_app,
        {"task": "tasks.add", "args": [40, 2], "options": {"queue": queue}},
        staged_by="test",
        max_bytes=65536,
        item_id=second,
    )
    service.edit(redis_client, key_prefix, edited)

    count, _version, reason = release_items(
        redis_client, keys, batch, require_head=True, low_water=0, rate_ms=0
    )
    assert (count, reason) == (1, "changed") and order() == [second]
    outcome = service.release_next(redis_client, celery_app, key_prefix)  # built again from the edit
    assert outcome.released and outcome.item.args == [40, 2]
    assert [e.args for e in entries(redis_client, key_prefix)] == ["[0, 1]", "[40, 2]"]


def test_a_poison_item_behind_good_heads_is_held_once_they_are_released(
    app, celery_app, stage, order, redis_client, key_prefix, queue
):
    good = stage(2, queue=queue)
    stage_raw(redis_client, key_prefix, "poison-late", {"task": "tasks.no_longer_here"}, 2**50)
    (after,) = stage(1, queue=queue)
    result = service.release_heads(redis_client, celery_app, key_prefix, limit=4)
    assert [o.item_id for o in result.released] == [*good, after]
    assert result.held == ("poison-late",) and order() == []
    assert [e.task_id for e in entries(redis_client, key_prefix)] == [*good, after]


def test_a_cross_server_release_notes_its_origin_with_the_hand_over(
    app, celery_app, stage, redis_client, key_prefix, queue
):
    (item_id,) = stage(1, queue=queue)
    assert service.release(redis_client, celery_app, key_prefix, item_id, same_server=False).released
    assert redis_client.llen(queue) == 1
    [noted] = entries(redis_client, key_prefix)
    assert (noted.task_id, noted.origin, noted.origin_ref, noted.queue) == (
        item_id,
        "staging",
        item_id,
        queue,
    )


def test_a_release_into_a_full_origins_list_still_releases_and_counts_the_entry(
    app, celery_app, stage, redis_client, key_prefix, queue
):
    (item_id,) = stage(1, queue=queue)
    key = origins.origins_key(key_prefix)
    pipe = redis_client.pipeline(transaction=False)
    for _ in range(origins.MAX_ENTRIES // 10_000):
        pipe.rpush(key, *(["x"] * 10_000))
    pipe.execute()
    assert service.release(redis_client, celery_app, key_prefix, item_id).released
    assert redis_client.llen(queue) == 1 and redis_client.llen(key) == origins.MAX_ENTRIES
    assert origins.take_dropped(redis_client, key_prefix) == 1
    redis_client.delete(key)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (service.Policy(low_water=1), 1),
        (service.Policy(low_water=5), 5),
        (service.Policy(low_water=10_000), dispatcher.MAX_BATCH),
        (service.Policy(low_water=10_000, max_rate=50), 1),
    ],
)
def test_a_dispatcher_step_releases_no_more_heads_than_the_policy_can_let_through(policy, expected):
    assert dispatcher.batch_limit(policy) == expected
