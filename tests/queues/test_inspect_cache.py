"""The queue pages ask workers through the shared inspect cache: polling reuses a fresh answer."""

import pytest

from dashboard.core import inspect_keys as worker_keys

pytestmark = pytest.mark.worker


def broadcasts(redis_client, prefix: str, kind: str) -> int:
    return int(redis_client.get(worker_keys.broadcast_counter(prefix, kind)) or 0)


def test_polling_the_queue_pages_sends_one_broadcast_per_kind_per_interval(
    app, client, redis_client, celery_worker, queue_name
):
    app.config.update(WORKERS_CACHE_SECONDS=60)  # one interval spans the whole test
    prefix = app.config["TASKDECK_KEY_PREFIX"]
    for _ in range(3):
        queues = client.get("/api/v1/queues").get_json()
        held = client.get(f"/api/v1/queues/{queue_name}/held").get_json()
    celery_queue = next(q for q in queues["queues"] if q["name"] == "celery")
    assert celery_worker.hostname in celery_queue["consumers"]
    assert held["workers_answered"] is True
    assert [
        broadcasts(redis_client, prefix, kind) for kind in ("active_queues", "reserved", "scheduled")
    ] == [
        1,
        1,
        1,
    ]
