"""Fixtures of the queues area: unique queues with no consumer, and an idle worker of our own."""

from __future__ import annotations

import os
import uuid

import pytest

from dashboard.core.broker import layout_for
from tests.support.servers import CeleryWorker


@pytest.fixture
def queue_name(redis_client, celery_app) -> str:
    """A queue of this test's own that no worker consumes (until the test says so)."""
    name = f"tdq-{uuid.uuid4().hex[:10]}"
    yield name
    redis_client.delete(*layout_for(celery_app).sub_lists(name))


@pytest.fixture
def send(celery_app, queue_name):
    """Send ``tasks.add`` messages to the test's queue: ``send(priority, x, **options)``."""

    def send_one(priority: int | None = None, x: int = 0, **options):
        return celery_app.send_task("tasks.add", args=(x, 0), queue=queue_name, priority=priority, **options)

    return send_one


@pytest.fixture(scope="module")
def idle_worker(celery_app, tmp_path_factory):
    """A prefork worker with concurrency 1 that consumes only a queue nobody sends to.

    Tests point it at their own queue with ``add_consumer`` once they have read what waits there.
    """
    log = tmp_path_factory.mktemp("queues-worker") / "worker.log"
    idle = f"tdq-idle-{uuid.uuid4().hex[:8]}"
    worker = CeleryWorker(dict(os.environ), log, queues=idle, concurrency=1, name="queues").start(celery_app)
    yield worker
    worker.stop()


def consume(celery_app, worker, queue: str) -> None:
    """Make ``worker`` start consuming ``queue`` now."""
    replies = celery_app.control.add_consumer(queue, destination=[worker.hostname], reply=True, timeout=10)
    assert replies, "the worker did not answer add_consumer"
