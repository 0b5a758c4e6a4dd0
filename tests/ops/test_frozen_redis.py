"""A hung Redis (SIGSTOP) hangs nothing: under gunicorn as the Procfile runs it, every page, partial
and API list answers within 2 s (the banner or 503), /healthz within 100 ms meanwhile, and all of it
answers 200 again soon after Redis resumes."""

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.servers import (
    GunicornServer,
    RedisServer,
    host_environment,
    procfile_gunicorn_options,
    wait_until,
)

RUN_ID = str(uuid.uuid4())
# Redis-backed: while Redis hangs they answer 503, a banner (pages) or a JSON error (API).
NEEDS_REDIS = (
    "/queues/",
    "/staging/",
    "/staging/list?since=1",
    "/workers/",
    f"/tasks/-/runs/{RUN_ID}/state",
    "/api/v1/queues",
    "/api/v1/staging",
    "/api/v1/workers",
)
# These say "down" or "unknown" in their own figures (the overview), or need SQL only (history).
DEGRADE = (
    "/",
    "/overview/tiles/redis",
    "/overview/tiles/workers",
    "/overview/tiles/dispatcher",
    "/tasks/",
    "/history/",
    "/api/v1/tasks",
    "/api/v1/runs",
)
URLS = NEEDS_REDIS + DEGRADE
POLLERS = 3  # fewer than the Procfile's threads per worker: a free thread is left for /healthz


def fetch(base: str, path: str, *, fragment: bool = False) -> tuple[int, str, float]:
    """(status, body, seconds) of one GET; ``fragment`` asks as an htmx poll does."""
    headers = {"HX-Request": "true"} if fragment else {}
    request = urllib.request.Request(base + path, headers=headers)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read().decode()
    return status, body, time.monotonic() - started


@pytest.fixture
def host(tmp_path, database_url, key_prefix):
    """One dashboard host on a Redis of its own, served with the Procfile's gunicorn options."""
    own_redis = RedisServer(tmp_path / "redis").start()
    env = host_environment(own_redis.url, database_url, key_prefix, "frozen-redis")
    server = GunicornServer(env, tmp_path / "gunicorn.log", options=procfile_gunicorn_options()).start()
    yield server, own_redis
    server.stop()
    own_redis.stop()


class Pollers:
    """Threads that GET the URLs round and round, as open tabs do, recording every answer."""

    def __init__(self, base: str, count: int):
        self.base = base
        self.results: list[tuple[str, bool, int, str, float]] = []
        self.in_flight = 0
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.poll, args=(n,), daemon=True) for n in range(count)]

    def poll(self, offset: int) -> None:
        n = offset * 5
        while not self.done.is_set():
            path, fragment = URLS[n % len(URLS)], bool((n // len(URLS)) % 2)
            with self.lock:
                self.in_flight += 1
            status, body, seconds = fetch(self.base, path, fragment=fragment)
            with self.lock:
                self.in_flight -= 1
                self.results.append((path, fragment, status, body, seconds))
            n += 1

    def seen(self) -> set[tuple[str, bool]]:
        with self.lock:
            return {(path, fragment) for path, fragment, *_ in self.results}

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=60)


def test_a_hung_redis_gets_the_banner_fast_and_healthz_at_once(host):
    server, own_redis = host
    for path in URLS:
        assert fetch(server.url, path)[0] == 200, path

    own_redis.pause()
    try:
        with Pollers(server.url, POLLERS) as pollers:
            healthz = []
            for _ in range(10):
                wait_until(lambda: pollers.in_flight > 0, timeout=10, interval=0.01, what="a request waiting")
                status, _body, seconds = fetch(server.url, "/healthz")
                assert status == 200
                healthz.append(seconds)
            every = {(path, fragment) for path in URLS for fragment in (False, True)}
            wait_until(
                lambda: every <= pollers.seen(), timeout=120, what="every URL asked, page and fragment"
            )
    finally:
        own_redis.resume()

    assert max(healthz) < 0.1, healthz
    for path, fragment, status, body, seconds in pollers.results:
        assert seconds < 2.0, (path, fragment, status, seconds)
        if path not in NEEDS_REDIS:
            assert status == 200, (path, fragment, status)
        elif path.startswith("/api/"):
            assert status == 503 and json.loads(body)["error"] == "Redis is unreachable", path
        else:
            assert status == 503 and "data-redis-down" in body, (path, fragment)
            assert ("<html" in body) is not fragment, (path, fragment)
    slowest = max(pollers.results, key=lambda result: result[-1])
    print(
        f"slowest while hung: {slowest[0]} {slowest[-1]:.3f}s; /healthz at most {max(healthz) * 1000:.1f} ms"
    )

    # Back: within 5 s of SIGCONT every URL answers 200 again, all polled at once.
    deadline = time.monotonic() + 5

    def recovers(path: str) -> None:
        wait_until(
            lambda: fetch(server.url, path)[0] == 200,
            timeout=max(0.0, deadline - time.monotonic()),
            what=f"{path} answering 200 after SIGCONT",
        )

    with ThreadPoolExecutor(max_workers=len(URLS)) as pool:
        list(pool.map(recovers, URLS))
