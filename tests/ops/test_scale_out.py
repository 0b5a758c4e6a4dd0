"""Several gunicorn workers on two hosts share Redis and SQL: they agree, and coalesce inspect."""

import json
import os
import threading
import urllib.request

import pytest

from dashboard.core.inspect import broadcast_count
from dashboard.workers.service import LIST_KINDS
from tests.support.servers import GunicornServer

pytestmark = pytest.mark.worker


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def two_hosts(tmp_path, redis_server, database_url, key_prefix):
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": redis_server.url,
        "CELERY_RESULT_BACKEND": redis_server.url,
        "DATABASE_URL": database_url,
        "TASKDECK_KEY_PREFIX": key_prefix,
        "SECRET_KEY": "shared-by-every-host",
        "WORKERS_CACHE_SECONDS": "30",
    }
    hosts = [GunicornServer(env, tmp_path / f"host{n}.log", workers=4).start() for n in range(2)]
    yield hosts
    for host in hosts:
        host.stop()


def test_every_worker_of_every_host_shows_the_same_staging_list(two_hosts):
    first, second = two_hosts
    for n in range(5):
        post_json(f"{first.url}/api/v1/staging", {"task": "tasks.add", "args": [n, n], "mode": "staged"})
    post_json(
        f"{second.url}/api/v1/staging",
        {"task": "tasks.add", "args": [9, 9], "mode": "staged", "position": "head"},
    )
    views = [get_json(f"{host.url}/api/v1/staging") for host in two_hosts for _ in range(8)]
    orders = {tuple(item["id"] for item in view["items"]) for view in views}
    versions = {view["version"] for view in views}
    assert len(orders) == 1 and len(versions) == 1
    assert len(next(iter(orders))) == 6


def test_two_hosts_send_one_inspect_broadcast_per_kind_per_interval(
    two_hosts, celery_worker, redis_client, key_prefix
):
    results: list[dict] = []
    errors: list[Exception] = []

    def poll(host):
        try:
            results.append(get_json(f"{host.url}/api/v1/workers"))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(two_hosts[n % 2],)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(results) == 24
    # One cache interval (30 s here) covers the whole burst: each kind was broadcast once in all.
    assert {kind: broadcast_count(redis_client, key_prefix, kind) for kind in LIST_KINDS} == dict.fromkeys(
        LIST_KINDS, 1
    )
    answered = [
        r for r in results if any(w.get("hostname") == celery_worker.hostname for w in r.get("workers", []))
    ]
    assert answered, "no poll saw the running worker"
