"""Core fixtures: what a refused request must leave untouched, and a staged item to edit."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.registry.conftest import broker_lists

# Rows a run, a staged item or a schedule would add; the audit log gets one row per request.
TABLES = ("task_runs", "schedules", "audit_log")


@pytest.fixture(autouse=True)
def quick_inspect(app):
    """Pages ask workers what they consume; none answers here, so do not wait a second each time."""
    app.config["INSPECT_TIMEOUT"] = 0.2


@pytest.fixture
def run_queue(declare_queue) -> str:
    """A queue of this test's own, declared in the app, that good runs are sent to."""
    import uuid

    return declare_queue(f"core-runs-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def observe(app, redis_client, key_prefix, run_queue):
    """``observe()``: the test's Redis keys with their values (the shared inspect cache aside: pages
    refresh it whatever the request), the broker queues' lengths and the rows of each table."""
    from dashboard.extensions import db

    inspect_cache = f"{key_prefix}workers:".encode()

    def snapshot() -> tuple[dict, dict, dict]:
        keys = sorted(
            k for k in redis_client.scan_iter(match=f"{key_prefix}*") if not k.startswith(inspect_cache)
        )
        values = {key: redis_client.dump(key) for key in keys}
        queues = ("celery", "reports", run_queue, "no-such-queue")
        waiting = {queue: sum(redis_client.llen(key) for key in broker_lists(queue)) for queue in queues}
        with app.app_context():
            rows = {
                table: db.session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                for table in TABLES
            }
            db.session.remove()
        return values, waiting, rows

    return snapshot


@pytest.fixture
def last_audit(app):
    """``last_audit()``: (action, result) of the newest audit row."""
    from dashboard.extensions import db
    from dashboard.portal.models import AuditEntry

    def newest() -> tuple[str, str] | None:
        with app.app_context():
            entry = db.session.query(AuditEntry).order_by(AuditEntry.id.desc()).first()
            found = (entry.action, entry.result) if entry else None
            db.session.remove()
        return found

    return newest


@pytest.fixture
def staged_id(app, run_queue) -> str:
    """The id of a ``tasks.add`` item staged for ``run_queue`` (for the edit entry point)."""
    from dashboard.redis_client import get_celery, get_redis
    from dashboard.staging import service

    with app.app_context():
        item = service.build_item(
            get_celery(),
            {"task": "tasks.add", "args": [1, 2], "options": {"queue": run_queue}},
            staged_by="test",
            max_bytes=app.config["MAX_PAYLOAD_BYTES"],
        )
        service.stage_item(get_redis(), app.config["TASKDECK_KEY_PREFIX"], item)
    return item.id
