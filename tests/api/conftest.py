"""One dashboard, served by a real server in header auth mode, for the contract tests of /api/v1.

The module's app has its own database and key prefix; runs it sends go to a queue of its own
that no worker consumes, so generated runs never occupy the suite's shared worker.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from kombu import Queue

from dashboard import create_app
from dashboard.extensions import db
from tests.conftest import app_config
from tests.support.servers import CeleryWorker, LiveServer

GROUP_ROLES = "td-admins=admin,td-operators=operator,td-viewers=viewer"
IDENTITIES = {
    "admin": {"X-Forwarded-User": "ada", "X-Forwarded-Groups": "td-admins"},
    "viewer": {"X-Forwarded-User": "vera", "X-Forwarded-Groups": "td-viewers"},
}


def header_mode_app(tmp_path, redis_url: str, database_url: str, **settings):
    config = app_config(tmp_path, redis_url, database_url, f"td-api-{uuid.uuid4().hex[:8]}:")
    config.update(
        AUTH_MODE="header",
        AUTH_TRUSTED_PROXIES="127.0.0.1",
        AUTH_GROUP_ROLES=GROUP_ROLES,
        INSPECT_TIMEOUT=0.3,
        **settings,
    )
    return create_app(config)


@pytest.fixture(scope="module")
def sink_queue(celery_app):
    """Route runs without a queue to a queue nobody consumes, for this module only."""
    name = f"api-sink-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(celery_app.conf, "task_queues", [Queue(name)])
        patch.setitem(celery_app.conf, "task_default_queue", name)
        patch.setitem(celery_app.conf, "task_routes", {})
        forget_routing(celery_app)
        yield name
    forget_routing(celery_app)  # later modules of this worker route by the app's own settings again


def forget_routing(celery_app) -> None:
    """Celery builds its router and queues once: drop them so the settings of now apply."""
    amqp = celery_app.amqp
    for cached in ("router", "queues", "default_queue"):
        amqp.__dict__.pop(cached, None)
    amqp._rtable = None


@pytest.fixture(scope="module")
def control_worker(celery_app, tmp_path_factory):
    """A worker of this module's own (own queue): the only one control commands may reach."""
    log = tmp_path_factory.mktemp("api-worker") / "worker.log"
    queue = f"api-control-{uuid.uuid4().hex[:8]}"
    worker = CeleryWorker(dict(os.environ), log, queues=queue, concurrency=1, name="apictl")
    worker.start(celery_app)
    yield worker
    worker.stop()


@pytest.fixture(scope="module")
def api_app(tmp_path_factory, redis_server, migrated_database, sink_queue):
    tmp = tmp_path_factory.mktemp("api-app")
    path = tmp / "taskdeck.db"
    shutil.copyfile(migrated_database, path)
    app = header_mode_app(tmp, redis_server.url, f"sqlite:///{path}")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="module")
def api_server(api_app):
    server = LiveServer(api_app).start()
    yield server
    server.stop()
