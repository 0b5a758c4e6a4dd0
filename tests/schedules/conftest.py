"""Schedules fixtures: real `celery beat` processes with the database scheduler, broker helpers."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime

import pytest

from dashboard.extensions import db
from tests.support.servers import BIN, ManagedProcess

SCHEDULER = "dashboard.schedules.scheduler:DatabaseScheduler"


class BeatProcess(ManagedProcess):
    """``celery beat -S <database scheduler> --max-interval 1`` as a subprocess."""

    stop_timeout = 15.0

    def __init__(self, env: dict[str, str], log_path):
        args = [str(BIN / "python"), "-m", "celery", "-A", "celery_app:app", "beat", "-S", SCHEDULER]
        super().__init__(args + ["--max-interval", "1", "--loglevel", "INFO"], env, log_path)

    def start(self) -> BeatProcess:
        self.spawn()
        return self


@pytest.fixture
def beat_env(app, database_url, key_prefix, redis_server) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        TASKDECK_KEY_PREFIX=key_prefix,
        REDIS_URL=redis_server.url,
        CELERY_BROKER_URL=redis_server.url,
        CELERY_RESULT_BACKEND=redis_server.url,
        SECRET_KEY="test-secret",
    )
    return env


@pytest.fixture
def start_beat(beat_env, tmp_path):
    """Start a beat process (call again for a second instance); all are stopped at teardown."""
    beats: list[BeatProcess] = []

    def start() -> BeatProcess:
        beat = BeatProcess(beat_env, tmp_path / f"beat-{len(beats)}.log").start()
        beats.append(beat)
        return beat

    yield start
    for beat in beats:
        beat.stop()


@pytest.fixture
def recorder(database_url, key_prefix, redis_client, tmp_path):
    """A real history recorder: it folds the origin notes beat writes with each run into history."""
    from tests.history.conftest import RecorderProcess

    process = RecorderProcess(database_url, key_prefix, tmp_path / "recorder.log").start(redis_client)
    yield process
    process.stop()


@pytest.fixture
def queue_name(declare_queue) -> str:
    """A broker queue of this test's own, consumed by no worker, to observe what beat sends
    (declared in the app's configuration: a schedule may only target a known queue)."""
    return declare_queue(f"sched-test-{uuid.uuid4().hex[:8]}")


def make_burst(app, count: int, queue: str | None = None) -> list[int]:
    """``count`` schedules due every second (beat spends much of each second in a batch)."""
    from dashboard.redis_client import get_celery
    from dashboard.schedules import service

    spec = {"task": "tasks.add", "kind": "interval", "interval_every": 1, "interval_unit": "seconds"}
    with app.app_context():
        ids = [
            service.create_schedule(
                db.session,
                get_celery(),
                {**spec, "name": f"burst-{i}", "args": f"[{i}, 1]", "queue": queue or "", "enable_now": True},
                max_payload=65536,
            ).id
            for i in range(count)
        ]
        db.session.remove()
    return ids


def sent_messages(redis_client, queue: str) -> list[dict]:
    """Messages waiting in ``queue``, oldest first, as their Celery headers."""
    raw = redis_client.lrange(queue, 0, -1)
    return [json.loads(item)["headers"] for item in reversed(raw)]


def due_times(messages: list[dict]) -> list[datetime]:
    return [datetime.fromisoformat(m["taskdeck_due_at"]) for m in messages]


@pytest.fixture
def app(tmp_path, redis_server, database_url, key_prefix):
    """The shared app fixture, with a shorter inspect wait (pages ask workers which tasks they have)."""
    from dashboard import create_app
    from tests.conftest import app_config

    config = app_config(tmp_path, redis_server.url, database_url, key_prefix)
    config["INSPECT_TIMEOUT"] = 0.4
    app = create_app(config)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
