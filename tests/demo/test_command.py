"""The demo command on a system that lacks what it needs: it says so and sends nothing."""

from __future__ import annotations

import subprocess
import uuid

import redis
from sqlalchemy import create_engine, text

from tests.support.servers import BIN, ROOT, RedisServer, host_environment


def test_the_demo_refuses_a_system_without_a_worker_and_sends_nothing(tmp_path, database_url):
    own_redis = RedisServer(tmp_path / "redis").start()
    prefix = f"td-demo-{uuid.uuid4().hex[:8]}:"
    try:
        env = host_environment(own_redis.url, database_url, prefix, "demo-refusal")
        command = [str(BIN / "flask"), "--app", "wsgi:app", "taskdeck", "demo", "--size", "small"]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "no live worker consumes the 'celery' queue" in done.stderr
        client = redis.Redis.from_url(own_redis.url)
        assert client.keys(f"{prefix}staging:*") == [] and client.exists("backfill") == 0
        client.close()
        engine = create_engine(database_url)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM schedules")).scalar_one() == 0
            assert connection.execute(text("SELECT count(*) FROM task_runs")).scalar_one() == 0
        engine.dispose()
    finally:
        own_redis.stop()
