"""Claim: 50 pollers of the workers partial cost at most one inspect broadcast per kind per interval.

Starts its own redis-server and two real prefork workers, serves the app over HTTP (threaded
Werkzeug), and lets 50 concurrent pollers GET the workers partial every 2 s for a minute:
first against an uncached baseline (every request broadcasts each inspect kind itself), then
against the coalesced cache. Prints broadcasts per kind per interval and partial latency p50/p99.

    .venv/bin/python bench/workers_polling.py [--seconds 60] [--pollers 50] [--interval 2]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import CeleryWorker, LiveServer, RedisServer  # noqa: E402

PREFIX = "bench-workers:"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def poll(url: str, seconds: float, interval: float, pollers: int) -> list[float]:
    """``pollers`` threads GET ``url`` (as htmx does) every ``interval`` s; returns latencies (s)."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def run() -> None:
        time.sleep(random.uniform(0, interval))  # tabs were not opened in the same instant
        while time.monotonic() < stop_at:
            started = time.monotonic()
            request = urllib.request.Request(url, headers={"HX-Request": "true"})
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
                assert response.status == 200
            elapsed = time.monotonic() - started
            with lock:
                latencies.append(elapsed)
            time.sleep(max(0.0, interval - elapsed))

    with ThreadPoolExecutor(max_workers=pollers) as pool:
        for future in [pool.submit(run) for _ in range(pollers)]:
            future.result()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=1.0, help="INSPECT_TIMEOUT")
    options = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per request is noise

    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    redis_server = RedisServer(tmp / "redis").start()
    env = dict(os.environ, REDIS_URL=redis_server.url, CELERY_BROKER_URL=redis_server.url)
    env["CELERY_RESULT_BACKEND"] = redis_server.url
    os.environ.update({k: env[k] for k in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")})
    workers: list[CeleryWorker] = []
    server = None
    try:
        from dashboard import create_app
        from dashboard.core import inspect
        from dashboard.redis_client import get_celery, get_redis
        from dashboard.rendering import fragment_only
        from dashboard.workers import control, service

        app = create_app(
            {
                "INSTANCE_PATH": tmp / "instance",
                "DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
                "REDIS_URL": redis_server.url,
                "CELERY_BROKER_URL": redis_server.url,
                "CELERY_RESULT_BACKEND": redis_server.url,
                "SECRET_KEY": "bench",
                "TASKDECK_KEY_PREFIX": PREFIX,
                "INSPECT_TIMEOUT": options.timeout,
                "WORKERS_CACHE_SECONDS": options.interval,
                "FLOWER_URL": None,
            }
        )
        celery_app = app.extensions["taskdeck_celery"]
        for name in ("bench-a", "bench-b"):
            worker = CeleryWorker(env, tmp / f"{name}.log", queues=f"{name}-q", name=name)
            workers.append(worker.start(celery_app))

        direct_broadcasts = {kind: 0 for kind in service.LIST_KINDS}
        count_lock = threading.Lock()

        def fetch_direct(kinds):
            with count_lock:
                for kind in kinds:
                    direct_broadcasts[kind] += 1
            with ThreadPoolExecutor(max_workers=len(kinds)) as pool:
                futures = {
                    k: pool.submit(inspect.inspect_direct, get_celery_app, k, timeout=options.timeout)
                    for k in kinds
                }
                return {k: f.result() for k, f in futures.items()}

        get_celery_app = celery_app

        @app.get("/bench/workers-uncached")
        def workers_uncached():
            """Baseline: the same partial, but every request broadcasts each kind itself."""
            listing = service.list_workers(
                get_redis(),
                PREFIX,
                get_celery(),
                timeout=options.timeout,
                max_age=options.interval,
                offline_after=60,
                forget_after=3600,
                fetch=fetch_direct,
            )
            return fragment_only(
                "workers/_content.html",
                workers=listing,
                commands=control.COMMANDS,
                flower_task_url=lambda _id: None,
                flower_worker_url=lambda _h: None,
            )

        server = LiveServer(app).start()
        intervals = options.seconds / options.interval
        print(
            f"{options.pollers} pollers, every {options.interval:g} s for {options.seconds:g} s "
            f"({intervals:.0f} intervals), 2 prefork workers, inspect timeout {options.timeout:g} s"
        )

        base = poll(
            f"{server.url}/bench/workers-uncached", options.seconds, options.interval, options.pollers
        )
        base_per_interval = {k: v / intervals for k, v in direct_broadcasts.items()}

        client = app.extensions["taskdeck_redis"]
        before = {k: inspect.broadcast_count(client, PREFIX, k) for k in service.LIST_KINDS}
        coalesced = poll(f"{server.url}/workers/", options.seconds, options.interval, options.pollers)
        after = {k: inspect.broadcast_count(client, PREFIX, k) for k in service.LIST_KINDS}
        co_per_interval = {k: (after[k] - before[k]) / intervals for k in service.LIST_KINDS}

        def line(label, latencies, per_interval):
            counts = ", ".join(f"{k} {v:.2f}" for k, v in per_interval.items())
            return (
                f"{label:<10} requests {len(latencies):>5}  p50 {percentile(latencies, 50) * 1000:7.1f} ms  "
                f"p99 {percentile(latencies, 99) * 1000:7.1f} ms  "
                f"mean {statistics.mean(latencies) * 1000:7.1f} ms"
                f"\n{'':<10} broadcasts per interval: {counts}"
            )

        print(line("baseline", base, base_per_interval))
        print(line("coalesced", coalesced, co_per_interval))
        base_total = sum(base_per_interval.values())
        co_total = sum(co_per_interval.values()) or 1e-9
        print(
            f"ratio      broadcasts baseline/coalesced {base_total / co_total:.1f}x; "
            f"p50 coalesced/baseline {percentile(coalesced, 50) / percentile(base, 50):.3f}; "
            f"p99 coalesced/baseline {percentile(coalesced, 99) / percentile(base, 99):.3f}"
        )
        worst = max(co_per_interval.values())
        verdict = "held" if worst <= 1.0 else "NOT held"
        print(f"claim      at most one broadcast per kind per interval: {verdict}")
    finally:
        if server is not None:
            server.stop()
        for worker in workers:
            worker.stop()
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
