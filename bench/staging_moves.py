"""Moves in the staging list at 1k, 10k and 100k items: the atomic ZSET script versus the
"LRANGE all, edit in Python, DEL, RPUSH all" rewrite. Prints p50/p99 and the ratio.

Run: .venv/bin/python bench/staging_moves.py   (starts its own redis-server)
"""

from __future__ import annotations

import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from dashboard.staging import service  # noqa: E402
from dashboard.staging.keys import GAP, StagingKeys  # noqa: E402
from tests.support.servers import RedisServer  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
MOVES = 500
REWRITES = {1_000: 200, 10_000: 50, 100_000: 10}


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def fill(client: redis.Redis, keys: StagingKeys, n: int) -> list[str]:
    ids = [f"item-{i:06d}" for i in range(n)]
    client.delete(keys.order, keys.items, keys.version)
    with client.pipeline(transaction=False) as pipe:
        for start in range(0, n, 5000):
            chunk = ids[start : start + 5000]
            pipe.zadd(keys.order, {item: i * GAP for i, item in enumerate(chunk, start)})
            pipe.hset(keys.items, mapping={item: '{"task":"tasks.add","args":[1,2]}' for item in chunk})
        pipe.execute()
    return ids


def bench_script(client: redis.Redis, prefix: str, ids: list[str]) -> list[float]:
    rng = random.Random(1)
    samples = []
    for _ in range(MOVES):
        item, neighbour = rng.sample(ids, 2)
        start = time.perf_counter()
        service.move(client, prefix, item, before=neighbour)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bench_rewrite(client: redis.Redis, key: str, ids: list[str], moves: int) -> list[float]:
    client.delete(key)
    for start in range(0, len(ids), 5000):
        client.rpush(key, *ids[start : start + 5000])
    rng = random.Random(1)
    samples = []
    for _ in range(moves):
        item, neighbour = rng.sample(ids, 2)
        start = time.perf_counter()
        current = [x.decode() for x in client.lrange(key, 0, -1)]
        current.remove(item)
        current.insert(current.index(neighbour), item)
        with client.pipeline() as pipe:
            pipe.delete(key)
            for chunk in range(0, len(current), 5000):
                pipe.rpush(key, *current[chunk : chunk + 5000])
            pipe.execute()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="staging-bench-"))
    server = RedisServer(data_dir).start()
    try:
        client = redis.Redis.from_url(server.url)
        keys = StagingKeys("bench:")
        print(
            f"{'items':>8} {'script p50':>11} {'script p99':>11} "
            f"{'rewrite p50':>12} {'rewrite p99':>12} {'p99 ratio':>10}"
        )
        for n in SIZES:
            ids = fill(client, keys, n)
            script = bench_script(client, "bench:", ids)
            assert client.zcard(keys.order) == n
            rewrite = bench_rewrite(client, "bench:rewrite", ids, REWRITES[n])
            print(
                f"{n:>8} {statistics.median(script):>9.3f}ms {percentile(script, 99):>9.3f}ms "
                f"{statistics.median(rewrite):>10.2f}ms {percentile(rewrite, 99):>10.2f}ms "
                f"{percentile(rewrite, 99) / percentile(script, 99):>9.0f}x"
            )
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
