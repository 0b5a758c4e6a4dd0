"""Staging fixtures: items staged through the service, and dispatcher processes of our own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.servers import BIN, ManagedProcess


@pytest.fixture
def stage(app, declare_queue):
    """``stage(n, **item)`` stages ``n`` tasks.add items through the service; returns their ids.
    A queue named in ``queue`` or ``options`` is declared in the app first."""
    from dashboard.redis_client import get_celery, get_redis
    from dashboard.staging import service

    def stage_items(n: int = 1, *, queue: str | None = None, at: str = "tail", **extra) -> list[str]:
        ids = []
        with app.app_context():
            for i in range(n):
                data = {"task": "tasks.add", "args": [i, 1], **extra}
                if queue:
                    data["options"] = {"queue": queue}
                if (data.get("options") or {}).get("queue"):
                    declare_queue(data["options"]["queue"])
                item = service.build_item(get_celery(), data, staged_by="test", max_bytes=65536)
                service.stage_item(get_redis(), app.config["TASKDECK_KEY_PREFIX"], item, at=at)
                ids.append(item.id)
        return ids

    return stage_items


@pytest.fixture
def order(app, redis_client):
    """``order()``: the staged ids head first, read straight from Redis."""
    from dashboard.staging.keys import StagingKeys

    keys = StagingKeys(app.config["TASKDECK_KEY_PREFIX"])
    return lambda: [i.decode() for i in redis_client.zrange(keys.order, 0, -1)]


class DispatcherProcess(ManagedProcess):
    """``flask --app wsgi:app taskdeck dispatch`` as a subprocess with the test's configuration."""

    def __init__(self, env: dict[str, str], log_path: Path):
        super().__init__([str(BIN / "flask"), "--app", "wsgi:app", "taskdeck", "dispatch"], env, log_path)

    def start(self) -> DispatcherProcess:
        self.spawn()
        return self


@pytest.fixture
def process_env(app, redis_server, database_url, key_prefix) -> dict[str, str]:
    """Environment under which a subprocess builds the same app as the ``app`` fixture."""
    env = dict(os.environ)
    env.update(
        REDIS_URL=redis_server.url,
        CELERY_BROKER_URL=redis_server.url,
        CELERY_RESULT_BACKEND=redis_server.url,
        DATABASE_URL=database_url,
        TASKDECK_KEY_PREFIX=key_prefix,
        SECRET_KEY="test-secret",
    )
    return env


@pytest.fixture
def dispatchers(process_env, tmp_path):
    """``dispatchers.start(name)`` starts a dispatcher process; all are stopped at the end."""

    class Pool:
        def __init__(self):
            self.started: list[DispatcherProcess] = []

        def start(self, name: str) -> DispatcherProcess:
            process = DispatcherProcess(process_env, tmp_path / f"dispatcher-{name}.log").start()
            self.started.append(process)
            return process

    pool = Pool()
    yield pool
    for process in pool.started:
        process.stop()
