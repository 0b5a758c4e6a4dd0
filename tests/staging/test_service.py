"""The staging list's operations on real Redis: order, moves, release message, bad input."""

from __future__ import annotations

import json
import uuid

import pytest

from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.staging import service
from dashboard.staging.keys import StagingKeys


@pytest.fixture
def prefix(app):
    return app.config["TASKDECK_KEY_PREFIX"]


def test_items_are_added_at_tail_or_head_and_each_change_bumps_the_version(
    app, stage, order, redis_client, prefix
):
    a, b = stage(2)
    (c,) = stage(1, at="head")
    assert order() == [c, a, b]
    assert service.current_version(redis_client, prefix) == 3


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"before": "A"}, ["D", "A", "B", "C"]),
        ({"after": "A"}, ["A", "D", "B", "C"]),
        ({"position": "top"}, ["D", "A", "B", "C"]),
        ({"position": "up"}, ["A", "B", "D", "C"]),
        ({"before": "gone", "after": "B"}, ["A", "B", "D", "C"]),
    ],
)
def test_move_places_the_item_next_to_its_neighbour(
    app, stage, order, redis_client, prefix, kwargs, expected
):
    ids = dict(zip("ABCD", stage(4), strict=True))
    names = {v: k for k, v in ids.items()}
    resolved = {k: ids.get(v, v) if k != "position" else v for k, v in kwargs.items()}
    service.move(redis_client, prefix, ids["D"], **resolved)
    assert [names[i] for i in order()] == expected


def test_repeated_moves_into_one_gap_renumber_without_losing_order(app, stage, order, redis_client, prefix):
    ids = stage(40)
    # Always insert right after the head: halves the same gap until the script renumbers.
    for item in ids[2:]:
        service.move(redis_client, prefix, item, after=ids[0])
    assert order() == [ids[0], *reversed(ids[2:]), ids[1]]


def test_move_with_a_stale_version_is_refused_when_the_caller_asks(app, stage, order, redis_client, prefix):
    a, b = stage(2)
    before = order()
    with pytest.raises(service.StaleStagingVersion):
        service.move(redis_client, prefix, b, position="top", version=1)
    assert order() == before


def test_release_pushes_exactly_what_send_task_pushes(app, celery_app, stage, redis_client, prefix):
    (item_id,) = stage(1, options={"queue": "staging-compare", "priority": 5, "countdown": 30})
    with app.app_context():
        from dashboard.redis_client import get_celery

        outcome = service.release(redis_client, get_celery(), prefix, item_id)
    assert outcome.released
    key = "staging-compare\x06\x163"  # kombu's sub-list for priority 5
    (released,) = [json.loads(m) for m in redis_client.lrange(key, 0, -1)]
    redis_client.delete(key)
    celery_app.send_task(
        "tasks.add", args=[0, 1], task_id=item_id, queue="staging-compare", priority=5, countdown=30
    )
    (sent,) = [json.loads(m) for m in redis_client.lrange(key, 0, -1)]
    redis_client.delete(key)
    for message in (released, sent):
        message["properties"].pop("delivery_tag")  # a fresh uuid per publish
        message["properties"].pop("reply_to")  # the sending app's reply queue
        message["headers"].pop("eta")  # now + countdown, a moment apart
        message["headers"].pop("origin")
    assert released == sent
    assert released["headers"]["id"] == item_id
    with pytest.raises(service.UnknownItem):
        service.get_item(redis_client, prefix, item_id)
    again = service.release(redis_client, celery_app, prefix, item_id)
    assert not again.released


def test_release_next_respects_pause_free_slots_and_head_order(app, celery_app, stage, redis_client, prefix):
    queue = "staging-lowwater"
    first, second = stage(2, queue=queue)
    policy = service.Policy(low_water=1)
    assert service.release_next(redis_client, celery_app, prefix, policy=policy).item_id == first
    # One message now waits in the queue: at low-water 1 nothing more is released.
    assert service.release_next(redis_client, celery_app, prefix, policy=policy).reason == "busy"
    assert service.release_next(redis_client, celery_app, prefix, policy=service.Policy(low_water=2)).released
    assert redis_client.llen(queue) == 2
    redis_client.delete(queue)


def test_max_rate_allows_one_release_per_slot(app, celery_app, stage, redis_client, prefix):
    stage(2, queue="staging-rate")
    policy = service.Policy(low_water=100, max_rate=0.1)
    assert service.release_next(redis_client, celery_app, prefix, policy=policy).released
    assert service.release_next(redis_client, celery_app, prefix, policy=policy).reason == "rate"
    redis_client.delete("staging-rate")


def test_cross_server_release_goes_through_the_processing_list_once(
    app, celery_app, stage, redis_client, prefix
):
    (item_id,) = stage(1, queue="staging-cross")
    outcome = service.release(redis_client, celery_app, prefix, item_id, same_server=False)
    assert outcome.released
    assert redis_client.llen("staging-cross") == 1
    keys = StagingKeys(prefix)
    assert redis_client.hlen(keys.releasing) == 0
    # A crash after step 1: the hand-over is replayed at start-up, and the marker stops a repeat.
    redis_client.hset(keys.releasing, item_id, json.dumps({"list_key": "staging-cross", "body": "{}"}))
    assert service.recover_releases(redis_client, celery_app, prefix) == 1
    assert redis_client.llen("staging-cross") == 1
    redis_client.delete("staging-cross")


def test_submit_sends_directly_when_idle_and_stages_when_busy(
    app, celery_app, stage, redis_client, prefix, declare_queue
):
    declare_queue("staging-auto")

    def item():
        return service.build_item(
            celery_app,
            {"task": "tasks.add", "args": [1, 2], "options": {"queue": "staging-auto"}},
            staged_by="t",
            max_bytes=65536,
        )

    with app.app_context():
        sent = item()
        assert service.submit(redis_client, celery_app, db.session, prefix, sent, mode="auto") == "sent"
        assert redis_client.llen("staging-auto") == 1
        assert service.submit(redis_client, celery_app, db.session, prefix, item(), mode="auto") == "staged"
        assert service.submit(redis_client, celery_app, db.session, prefix, item(), mode="staged") == "staged"
        assert service.staged_count(redis_client, prefix) == 2
        # Only the sent one is in the history; staged work is recorded when it is released.
        [run] = db.session.scalars(db.select(TaskRun)).all()
        assert (run.task_id, run.origin, run.queue) == (sent.id, "operator", "staging-auto")
    redis_client.delete("staging-auto")


def test_a_burst_of_auto_submissions_sends_up_to_the_low_water_mark_and_stages_the_rest(
    app, celery_app, redis_server, prefix, declare_queue
):
    """Each auto decision and its effect are one script: concurrent submitters never overshoot."""
    import threading

    import redis as redis_lib

    queue = declare_queue(f"staging-burst-{uuid.uuid4().hex[:8]}")
    first = redis_lib.Redis.from_url(redis_server.url)
    service.set_policy(first, prefix, {"low_water": 5})
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def submitter() -> None:
        client = redis_lib.Redis.from_url(redis_server.url)
        start.wait()
        with app.app_context():
            for _ in range(25):
                item = service.build_item(
                    celery_app,
                    {"task": "tasks.add", "args": [1, 2], "options": {"queue": queue}},
                    staged_by="t",
                    max_bytes=65536,
                )
                outcomes.append(service.submit(client, celery_app, db.session, prefix, item, mode="auto"))

    threads = [threading.Thread(target=submitter) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 200
    assert outcomes.count("sent") == 5 == first.llen(queue)
    assert outcomes.count("staged") == 195 == service.staged_count(first, prefix)
    with app.app_context():
        assert db.session.query(TaskRun).filter_by(queue=queue).count() == 5
    first.delete(queue)
