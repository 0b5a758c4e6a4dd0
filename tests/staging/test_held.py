"""A poison item at the head is held, not retried forever: the list goes on behind it."""

from __future__ import annotations

import json

import pytest
import redis


def stage_raw(redis_client, prefix: str, item_id: str, data: dict, score: int) -> None:
    """An item as one stored before validation existed (or written by hand): straight into Redis."""
    from dashboard.staging.keys import StagingKeys

    keys = StagingKeys(prefix)
    redis_client.hset(keys.items, item_id, json.dumps(data))
    redis_client.zadd(keys.order, {item_id: score})


POISON = {
    "poison-countdown": {"task": "tasks.add", "args": [1, 2], "kwargs": {}, "options": {"countdown": 1e30}},
    "poison-unregistered": {"task": "tasks.no_longer_here", "args": [], "kwargs": {}, "options": {}},
}


def test_a_poison_head_is_held_and_the_next_item_runs_on_a_worker(
    app, client, redis_client, key_prefix, stage, dispatchers, celery_worker, celery_app
):
    for score, (item_id, data) in enumerate(POISON.items(), start=-10):
        stage_raw(redis_client, key_prefix, item_id, data, score)
    (good,) = stage(1)  # tasks.add(0, 1) on the default queue, which the worker consumes
    dispatchers.start("a")
    assert celery_app.AsyncResult(good).get(timeout=60) == 1  # released past the poison, and ran
    listed = client.get("/api/v1/staging").get_json()
    assert listed["items"] == [] and listed["total"] == 0
    held = {h["id"]: h for h in listed["held"]}
    assert set(held) == set(POISON)
    assert "cannot be released" in held["poison-countdown"]["reason"]
    assert "unknown task 'tasks.no_longer_here'" in held["poison-unregistered"]["reason"]
    assert all(h["held_at"] for h in held.values())
    page = client.get("/staging/").get_data(as_text=True)
    assert 'data-testid="staging-held-count">2<' in page and "Return to the list" in page


def test_a_held_item_can_be_returned_to_the_tail_or_removed_and_both_are_audited(
    app, client, redis_client, key_prefix, stage
):
    from dashboard.extensions import db
    from dashboard.portal.models import AuditEntry
    from dashboard.redis_client import get_celery, get_redis
    from dashboard.staging import service
    from dashboard.staging.keys import StagingKeys

    keys = StagingKeys(key_prefix)
    for score, (item_id, data) in enumerate(POISON.items(), start=-10):
        stage_raw(redis_client, key_prefix, item_id, data, score)
    (good,) = stage(1)
    version = int(redis_client.get(keys.version) or 0)
    with app.app_context():
        outcome = service.release_next(get_redis(), get_celery(), key_prefix)
    assert outcome.held == tuple(POISON) and outcome.released
    assert int(redis_client.get(keys.version)) > version  # each hold bumps the version
    assert redis_client.zrange(keys.order, 0, -1) == [] and good == outcome.item_id
    (other,) = stage(1)

    requeued = client.post("/api/v1/staging/poison-countdown/requeue", json={})
    assert requeued.status_code == 200, requeued.get_json()
    assert [i.decode() for i in redis_client.zrange(keys.order, 0, -1)] == [other, "poison-countdown"]
    assert json.loads(redis_client.hget(keys.items, "poison-countdown")) == POISON["poison-countdown"]
    assert client.post("/api/v1/staging/poison-countdown/requeue", json={}).status_code == 404

    removed = client.post("/staging/poison-unregistered/remove")
    assert removed.status_code == 303
    assert redis_client.hlen(keys.held) == 0
    with app.app_context():
        results = [(e.action, e.result) for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
    assert results == [
        ("staging.requeue", "200"),
        ("staging.requeue", "refused 404"),
        ("staging.remove", "303"),
    ]


def test_releasing_a_poison_item_by_hand_says_why(app, client, redis_client, key_prefix):
    stage_raw(redis_client, key_prefix, "poison-countdown", POISON["poison-countdown"], 0)
    response = client.post("/api/v1/staging/poison-countdown/release", json={})
    assert response.status_code == 422
    assert response.get_json()["field"] == "id" and "cannot be released" in response.get_json()["error"]
    assert redis_client.zcard(f"{key_prefix}staging:default:order") == 1  # left where it was


def test_an_unreachable_redis_is_not_the_items_fault(app, redis_client, key_prefix, stage):
    """A transient failure raises (the dispatcher retries); nothing is held."""

    from dashboard.redis_client import get_celery
    from dashboard.staging import service

    stage(1)
    away = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    with app.app_context(), pytest.raises(redis.exceptions.ConnectionError):
        service.release_next(away, get_celery(), key_prefix)
    assert redis_client.zcard(f"{key_prefix}staging:default:order") == 1
    assert redis_client.hlen(f"{key_prefix}staging:default:held") == 0
