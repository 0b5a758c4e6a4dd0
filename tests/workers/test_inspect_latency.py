"""A cache miss waits for the workers known alive, not for the whole inspect timeout.

The core-function tests run against a Redis server of their own with workers started here, so
exactly those workers answer (the session's workers live on the session's server).
"""

import os
import time

import pytest
import redis
from celery import Celery

from dashboard.core import inspect, inspect_keys
from dashboard.workers.service import LIST_KINDS
from tests.support.servers import CeleryWorker, RedisServer, wait_until

pytestmark = pytest.mark.worker

SLOW_TIMEOUT = 8.0  # far longer than one round trip, so waiting for it cannot go unnoticed


def _worker_env(url: str) -> dict[str, str]:
    return dict(os.environ, REDIS_URL=url, CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url)


def _celery_on(url: str) -> Celery:
    """A Celery app of its own on ``url`` (the bundled app is one object shared by every test)."""
    app = Celery("inspect-latency", set_as_current=False)
    # CELERY_BROKER_URL (the session's server) outranks ``broker_url``; these two outrank it.
    app.conf.broker_read_url = app.conf.broker_write_url = url
    return app


@pytest.fixture(scope="module")
def lone_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("lone-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def lone_celery(lone_redis):
    return _celery_on(lone_redis.url)


@pytest.fixture(scope="module")
def lone_worker(lone_redis, lone_celery, tmp_path_factory):
    """The one worker on ``lone_redis``."""
    log = tmp_path_factory.mktemp("lone-worker") / "worker.log"
    worker = CeleryWorker(_worker_env(lone_redis.url), log, queues="celery", concurrency=1, name="lone")
    worker.start(lone_celery)
    yield worker
    worker.stop()


@pytest.fixture
def lone_client(lone_redis):
    client = redis.Redis.from_url(lone_redis.url)
    yield client
    client.close()


def _see_workers(client, prefix, celery_app) -> inspect.InspectSnapshot:
    """A first ping (nobody known yet: it waits its whole, short, timeout) that records who answers."""
    return inspect.inspect_cached(client, prefix, celery_app, "ping", timeout=1.0, max_age=0)


def test_page_and_tile_miss_return_once_the_known_workers_answered(
    app, client, redis_client, celery_app, celery_worker, key_prefix
):
    first = _see_workers(redis_client, key_prefix, celery_app)
    assert celery_worker.hostname in first.replies and first.waited_for is None
    app.config.update(INSPECT_TIMEOUT=SLOW_TIMEOUT, WORKERS_CACHE_SECONDS=60.0)
    inspect.invalidate(redis_client, key_prefix, LIST_KINDS, None)

    started = time.monotonic()
    response = client.get("/workers/")
    page_elapsed = time.monotonic() - started
    assert response.status_code == 200 and celery_worker.hostname in response.get_data(as_text=True)
    assert page_elapsed < SLOW_TIMEOUT / 4

    inspect.invalidate(redis_client, key_prefix, ("ping",), None)
    started = time.monotonic()
    html = client.get("/overview/tiles/workers").get_data(as_text=True)
    tile_elapsed = time.monotonic() - started
    assert celery_worker.hostname in html and "status-ok" in html
    assert tile_elapsed < SLOW_TIMEOUT / 4
    assert inspect.broadcast_count(redis_client, key_prefix, inspect_keys.DISCOVER) == 0


def test_core_miss_with_one_worker_returns_once_it_answered(
    lone_client, lone_celery, lone_worker, key_prefix
):
    first = _see_workers(lone_client, key_prefix, lone_celery)
    assert first.hostnames == [lone_worker.hostname] and first.waited_for is None
    started = time.monotonic()
    snap = inspect.inspect_cached(
        lone_client, key_prefix, lone_celery, "registered", timeout=SLOW_TIMEOUT, max_age=60
    )
    elapsed = time.monotonic() - started
    assert snap.refreshed and snap.waited_for == 1
    assert any(line.startswith("tasks.add") for line in snap.reply(lone_worker.hostname))
    assert elapsed < SLOW_TIMEOUT / 4


def test_with_no_worker_known_the_broadcast_waits_the_timeout_and_answers_empty(
    lone_redis, lone_client, key_prefix
):
    # Another database of the same server: its broadcasts reach no worker at all.
    nobody = _celery_on(lone_redis.url.rsplit("/", 1)[0] + "/5")
    started = time.monotonic()
    snap = inspect.inspect_cached(lone_client, key_prefix, nobody, "ping", timeout=1.0, max_age=0)
    elapsed = time.monotonic() - started
    assert snap.refreshed and snap.replies == {} and snap.error is None
    assert snap.taken_at is not None  # an answer (empty), not "still waiting"
    assert snap.waited_for is None  # nobody known: the full timeout, so a new worker can answer
    assert elapsed < 1.0 + 1.5


def test_discovery_ping_finds_a_worker_started_later_and_drops_the_cached_answers(
    lone_client, lone_redis, lone_celery, lone_worker, key_prefix, tmp_path
):
    _see_workers(lone_client, key_prefix, lone_celery)
    late = CeleryWorker(
        _worker_env(lone_redis.url), tmp_path / "late.log", queues="celery", concurrency=1, name="late"
    )
    try:
        late.start(lone_celery)
        cached = lone_client.exists(inspect_keys.inspect_key(key_prefix, "ping"))
        found = inspect.discover(lone_client, key_prefix, lone_celery, timeout=1.0, alive_within=60)
        assert cached and found == sorted([lone_worker.hostname, late.hostname])
        # A newcomer: the answers cached for all workers are gone, so the next poll asks again...
        assert not lone_client.exists(inspect_keys.inspect_key(key_prefix, "ping"))
        snap = inspect.inspect_cached(lone_client, key_prefix, lone_celery, "ping", timeout=5.0, max_age=60)
        # ...and waits for both replies.
        assert snap.refreshed and snap.waited_for == 2
        assert snap.hostnames == sorted([lone_worker.hostname, late.hostname])
    finally:
        late.stop()


def test_a_worker_started_later_shows_up_by_the_discovery_rule(
    lone_client, lone_redis, lone_celery, lone_worker, key_prefix, tmp_path
):
    _see_workers(lone_client, key_prefix, lone_celery)
    late = CeleryWorker(
        _worker_env(lone_redis.url), tmp_path / "late.log", queues="celery", concurrency=1, name="late"
    )
    try:
        late.start(lone_celery)

        both = sorted([lone_worker.hostname, late.hostname])

        def both_answer() -> bool:
            snap = inspect.inspect_cached(
                lone_client, key_prefix, lone_celery, "ping", timeout=1.0, max_age=0, discover_every=0.5
            )
            return snap.hostnames == both and snap.waited_for == 2

        wait_until(both_answer, timeout=30, what="the late worker among the answers")
    finally:
        late.stop()


def test_one_discovery_ping_per_interval_across_callers(lone_client, lone_celery, lone_worker, key_prefix):
    _see_workers(lone_client, key_prefix, lone_celery)
    lone_client.delete(inspect_keys.discover_key(key_prefix))  # as if the interval had passed
    for _ in range(6):
        snap = inspect.inspect_cached(
            lone_client, key_prefix, lone_celery, "ping", timeout=1.0, max_age=0, discover_every=30
        )
        assert snap.refreshed and snap.hostnames == [lone_worker.hostname]
    assert inspect.broadcast_count(lone_client, key_prefix, inspect_keys.DISCOVER) == 1
    assert inspect.broadcast_count(lone_client, key_prefix, "ping") == 7
