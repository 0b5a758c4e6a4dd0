"""Registry fixtures: queues of a test's own on the real broker, and workers started on them."""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest
from kombu import Queue

from tests.support.servers import CeleryWorker

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)


def broker_lists(queue: str) -> list[str]:
    """The Redis lists kombu keeps for ``queue``: the queue itself and its priority siblings."""
    return [queue] + [f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS[1:]]


class BrokerQueue:
    """A queue only this test uses, declared in the app's ``task_queues`` so runs may target it."""

    def __init__(self, redis_client, name: str):
        self.redis = redis_client
        self.name = name

    def length(self) -> int:
        """Messages waiting, counting every priority list."""
        return sum(self.redis.llen(key) for key in broker_lists(self.name))

    def messages(self) -> dict[str, list[dict]]:
        """Decoded messages per Redis list name (only lists holding some)."""
        found: dict[str, list[dict]] = {}
        for key in broker_lists(self.name):
            raw = self.redis.lrange(key, 0, -1)
            if raw:
                found[key] = [decode_message(item) for item in raw]
        return found

    def only_message(self) -> tuple[str, dict]:
        lists = self.messages()
        assert sum(len(v) for v in lists.values()) == 1, lists
        key, [message] = next(iter(lists.items()))
        return key, message


def decode_message(raw: bytes) -> dict:
    """A kombu Redis envelope with its body decoded."""
    envelope = json.loads(raw)
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    envelope["decoded_body"] = json.loads(body)
    return envelope


@pytest.fixture
def make_queue(celery_app, redis_client, monkeypatch):
    """Declare fresh queues in the app's configuration (undone after the test)."""

    def make(prefix: str = "registry-test") -> BrokerQueue:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        queues = list(celery_app.conf.task_queues or ()) + [Queue(name)]
        monkeypatch.setitem(celery_app.conf, "task_queues", queues)
        return BrokerQueue(redis_client, name)

    return make


@pytest.fixture
def unique_queue(make_queue) -> BrokerQueue:
    return make_queue()


@pytest.fixture
def start_worker(celery_app, tmp_path):
    """Start real workers on given queues; all are stopped after the test."""
    started: list[CeleryWorker] = []

    def start(queues: str, app: str = "celery_app:app", name: str = "registry") -> CeleryWorker:
        worker = CeleryWorker(
            dict(os.environ),
            tmp_path / f"worker-{len(started)}.log",
            queues=queues,
            concurrency=1,
            pool="solo",
            name=name,
            app=app,
        )
        started.append(worker)
        return worker.start(celery_app)

    yield start
    for worker in started:
        worker.stop()
