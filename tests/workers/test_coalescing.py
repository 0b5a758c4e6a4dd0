"""However many requests poll at once, one inspect broadcast per kind per interval reaches the workers."""

import threading

import pytest

from dashboard.core import inspect, inspect_keys
from dashboard.workers.service import LIST_KINDS
from tests.support.servers import wait_until

pytestmark = pytest.mark.worker


def test_concurrent_partial_requests_share_one_broadcast_per_kind(app, two_workers):
    app.config.update(WORKERS_CACHE_SECONDS=60)  # one interval spans the whole test
    prefix = app.config["TASKDECK_KEY_PREFIX"]
    pages: list[str] = []
    errors: list[BaseException] = []

    def poll():
        client = app.test_client()
        try:
            for _ in range(3):
                response = client.get("/workers/", headers={"HX-Request": "true"})
                assert response.status_code == 200
                pages.append(response.get_data(as_text=True))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=poll) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(pages) == 48
    with app.app_context():
        from dashboard.redis_client import get_redis

        counts = {kind: inspect.broadcast_count(get_redis(), prefix, kind) for kind in LIST_KINDS}
    assert counts == {kind: 1 for kind in LIST_KINDS}
    # Every poller was served the workers (the first callers waited for the one answer).
    assert all(two_workers[0].hostname in page and two_workers[1].hostname in page for page in pages)


def test_cache_is_refreshed_once_older_than_max_age(redis_client, key_prefix, celery_app, two_workers):
    first = inspect.inspect_cached(redis_client, key_prefix, celery_app, "ping", timeout=0.5, max_age=0.3)
    assert first.refreshed and two_workers[0].hostname in first.replies
    again = inspect.inspect_cached(redis_client, key_prefix, celery_app, "ping", timeout=0.5, max_age=30)
    assert not again.refreshed and again.taken_at == first.taken_at
    assert inspect.broadcast_count(redis_client, key_prefix, "ping") == 1

    def refreshed():
        snap = inspect.inspect_cached(redis_client, key_prefix, celery_app, "ping", timeout=0.5, max_age=0.3)
        return snap.refreshed

    wait_until(refreshed, timeout=10, what="a refresh after max_age")
    assert inspect.broadcast_count(redis_client, key_prefix, "ping") == 2


def test_caller_serves_previous_answer_while_another_refreshes(
    redis_client, key_prefix, celery_app, two_workers
):
    first = inspect.inspect_cached(redis_client, key_prefix, celery_app, "ping", timeout=0.5, max_age=0)
    # Someone else holds the refresh lock: the previous answer is served at once, marked stale.
    cache_key = inspect_keys.inspect_key(key_prefix, "ping")
    redis_client.set(inspect_keys.lock_key(cache_key), "another-process", px=5000)
    served = inspect.inspect_cached(redis_client, key_prefix, celery_app, "ping", timeout=0.5, max_age=0)
    assert served.stale and not served.refreshed
    assert served.replies == first.replies
    assert inspect.broadcast_count(redis_client, key_prefix, "ping") == 1


def test_waiter_without_previous_answer_gives_up_after_the_timeout(redis_client, key_prefix, celery_app):
    cache_key = inspect_keys.inspect_key(key_prefix, "stats")
    redis_client.set(inspect_keys.lock_key(cache_key), "stuck-process", px=10000)
    snap = inspect.inspect_cached(redis_client, key_prefix, celery_app, "stats", timeout=0.2, max_age=2)
    assert snap.taken_at is None and snap.replies == {}
    assert inspect.broadcast_count(redis_client, key_prefix, "stats") == 0
