"""Release throughput from the staging list versus a plain ``send_task`` loop on the same Redis.

Both push the same 2000 ``tasks.add`` messages into a queue nobody consumes; the release path
builds each message with Celery's own send_task (recorded, not sent) and moves it atomically.

Run: .venv/bin/python bench/staging_release.py   (starts its own redis-server)
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.servers import RedisServer  # noqa: E402

N = 2000
ROUNDS = 3


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="staging-bench-"))
    server = RedisServer(data_dir).start()
    os.environ["REDIS_URL"] = server.url
    try:
        import redis

        from dashboard.celery_link import load_celery_app
        from dashboard.staging import service

        celery_app = load_celery_app("celery_app:app", server.url, server.url)
        client = redis.Redis.from_url(server.url)
        prefix = "bench:"
        best_send, best_release = float("inf"), float("inf")
        for _ in range(ROUNDS):
            client.flushdb()
            start = time.perf_counter()
            for i in range(N):
                celery_app.send_task("tasks.add", args=[i, 1], queue="bench-send")
            best_send = min(best_send, time.perf_counter() - start)
            assert client.llen("bench-send") == N

            items = [
                service.build_item(
                    celery_app,
                    {"task": "tasks.add", "args": [i, 1], "options": {"queue": "bench-release"}},
                    staged_by="bench",
                    max_bytes=65536,
                )
                for i in range(N)
            ]
            for item in items:
                service.stage_item(client, prefix, item)
            start = time.perf_counter()
            for _ in range(N):
                assert service.release_next(client, celery_app, prefix).released
            best_release = min(best_release, time.perf_counter() - start)
            assert client.llen("bench-release") == N
        send_rate, release_rate = N / best_send, N / best_release
        print(f"send_task loop:        {send_rate:8.0f} messages/s (best of {ROUNDS} x {N})")
        print(f"staging release_next:  {release_rate:8.0f} messages/s (best of {ROUNDS} x {N})")
        print(f"ratio release/send:    {release_rate / send_rate:8.2f}x")
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
