"""Claim: a queue page costs O(page), so the first page of 1M messages is as fast as of 1k.

Fills one queue with 1k, 100k and 1M realistic Celery protocol-2 messages (one real message
from ``send_task``, repeated with fresh task ids, pushed with pipelined LPUSH), then reports the
server time of the first page and of a deep page (the middle, and the last page), through the
service and through the JSON API, beside the naive "LRANGE 0 -1 and decode all" baseline.

Run: .venv/bin/python bench/queues_paging.py            (about two minutes on 2 cores)
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import RedisServer  # noqa: E402

SIZES = (1_000, 100_000, 1_000_000)
LIMIT = 50
REPEATS = 30
PUSH_BATCH = 1000


def timed(fn, repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def fill(client, celery_app, queue: str, size: int) -> int:
    """Top the queue up to ``size`` messages; returns the size of one message in bytes."""
    template_id = celery_app.send_task(
        "tasks.send_daily_report", kwargs={"recipient": "ops@example.com"}, queue=queue
    ).id
    template = client.lpop(queue)
    have = client.llen(queue)
    while have < size:
        batch = min(PUSH_BATCH, size - have)
        values = [template.replace(template_id.encode(), str(uuid.uuid4()).encode()) for _ in range(batch)]
        with client.pipeline(transaction=False) as pipe:
            pipe.lpush(queue, *values)
            pipe.execute()
        have += batch
    return len(template)


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="td-bench-queues-"))
    server = RedisServer(data_dir).start()
    try:
        run(server.url, data_dir)
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def run(url: str, data_dir: Path) -> None:
    import redis

    from dashboard import create_app
    from dashboard.queues import service

    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": data_dir / "instance",
            "DATABASE_URL": f"sqlite:///{data_dir / 'bench.db'}",
            "REDIS_URL": url,
            "CELERY_BROKER_URL": url,
            "CELERY_RESULT_BACKEND": url,
            "SECRET_KEY": "bench",
            "FLOWER_URL": None,
        }
    )
    client = redis.Redis.from_url(url)
    http = app.test_client()
    queue = "bench-paging"
    with app.app_context():
        from dashboard.redis_client import get_celery

        celery_app = get_celery()
        layout = service.layout_for(celery_app)
        print("queue paging, median of", REPEATS, "runs, page of", LIMIT, "messages; 2-core machine")
        header = (
            f"{'messages':>10} {'first page':>11} {'middle page':>12} {'last page':>10} "
            f"{'API first':>10} {'naive all':>11} {'naive/first':>12}"
        )
        print(header)
        results = {}
        for size in SIZES:
            message_bytes = fill(client, celery_app, queue, size)
            first = timed(lambda: service.read_page(client, layout, queue, limit=LIMIT), REPEATS)
            middle = timed(
                lambda size=size: service.read_page(client, layout, queue, limit=LIMIT, position=size // 2),
                REPEATS,
            )
            last = timed(
                lambda size=size: service.read_page(
                    client, layout, queue, limit=LIMIT, position=size - LIMIT
                ),
                REPEATS,
            )
            api = timed(lambda: http.get(f"/api/v1/queues/{queue}/messages?limit={LIMIT}"), REPEATS)
            naive_repeats = 3 if size < 1_000_000 else 1
            naive = timed(lambda: service.naive_read_all(client, layout, queue), naive_repeats)
            results[size] = first
            print(
                f"{size:>10,} {first:>9.2f}ms {middle:>10.2f}ms {last:>8.2f}ms {api:>8.2f}ms "
                f"{naive:>9.0f}ms {naive / first:>11.0f}x"
            )
        print(f"message size: {message_bytes} bytes")
        ratio = results[SIZES[-1]] / results[SIZES[0]]
        print(f"first page at {SIZES[-1]:,} vs {SIZES[0]:,}: {ratio:.2f}x (target: within 2x)")


if __name__ == "__main__":
    main()
