"""The registry asks workers through the shared inspect cache: polls and keystrokes reuse answers."""

import pytest

from dashboard.core import inspect_keys as worker_keys

pytestmark = pytest.mark.worker


def broadcasts(redis_client, prefix: str, kind: str) -> int:
    return int(redis_client.get(worker_keys.broadcast_counter(prefix, kind)) or 0)


def test_searching_and_opening_tasks_reuses_one_fresh_inspect_answer(
    app, client, redis_client, celery_worker
):
    app.config.update(WORKERS_CACHE_SECONDS=60)  # one interval spans the whole test
    prefix = app.config["TASKDECK_KEY_PREFIX"]
    first = client.get("/api/v1/tasks").get_json()
    for search in ("a", "ad", "add"):
        assert client.get(f"/tasks/?q={search}", headers={"HX-Request": "true"}).status_code == 200
    detail = client.get("/api/v1/tasks/tasks.add").get_json()
    assert celery_worker.hostname in first["workers"]
    assert celery_worker.hostname in detail["workers"]
    assert broadcasts(redis_client, prefix, "registered") == 1
    assert broadcasts(redis_client, prefix, "active_queues") == 1
