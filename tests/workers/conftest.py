"""Two real prefork workers of this area's own, each on its own queue, with distinct hostnames."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest

from tests.support.servers import CeleryWorker


@dataclass
class AreaWorker:
    worker: CeleryWorker
    queue: str

    @property
    def hostname(self) -> str:
        return self.worker.hostname


@pytest.fixture(scope="session")
def two_workers(celery_app, tmp_path_factory):
    """Workers ``alpha`` and ``beta`` (concurrency 2), consuming ``wk-alpha-…`` / ``wk-beta-…``."""
    logs = tmp_path_factory.mktemp("area-workers")
    started: list[AreaWorker] = []
    try:
        for name in ("alpha", "beta"):
            queue = f"wk-{name}-{uuid.uuid4().hex[:8]}"
            worker = CeleryWorker(
                dict(os.environ), logs / f"{name}.log", queues=queue, concurrency=2, name=name
            )
            started.append(AreaWorker(worker.start(celery_app), queue))
        yield tuple(started)
    finally:
        for area_worker in started:
            area_worker.worker.stop()


@pytest.fixture
def spare_worker(celery_app, tmp_path):
    """A worker a test may stop or shut down."""
    queue = f"wk-spare-{uuid.uuid4().hex[:8]}"
    worker = CeleryWorker(dict(os.environ), tmp_path / "spare.log", queues=queue, concurrency=1, name="spare")
    area_worker = AreaWorker(worker.start(celery_app), queue)
    yield area_worker
    worker.stop()


@pytest.fixture
def fast_app(app):
    """The app with short inspect timings, so status changes show within seconds."""
    app.config.update(INSPECT_TIMEOUT=0.5, WORKERS_CACHE_SECONDS=0.5, WORKERS_OFFLINE_AFTER=10.0)
    return app
