"""/metrics reports the live state in Prometheus text format."""

import uuid

from prometheus_client.parser import text_string_to_metric_families

from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.staging import service as staging
from dashboard.timeutil import utcnow


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_report_queues_staging_runs_and_dependencies(
    app, client, celery_app, redis_client, key_prefix
):
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    for priority in (0, 0, 9):
        celery_app.send_task("tasks.add", args=(1, 2), queue=queue, priority=priority)
    with app.app_context():
        item = staging.build_item(
            celery_app, {"task": "tasks.add", "args": [1, 1]}, staged_by="t", max_bytes=65536
        )
        staging.stage_item(redis_client, key_prefix, item)
        db.session.add_all(
            [
                TaskRun(task_id=uuid.uuid4().hex, name="tasks.add", state="FAILURE", finished_at=utcnow()),
                TaskRun(task_id=uuid.uuid4().hex, name="tasks.add", state="SUCCESS", finished_at=utcnow()),
                TaskRun(task_id=uuid.uuid4().hex, name="tasks.add", state="SUCCESS", finished_at=utcnow()),
            ]
        )
        db.session.commit()
    samples = scrape(client)
    assert samples[("taskdeck_dependency_up", (("dependency", "redis"),))] == 1
    assert samples[("taskdeck_dependency_up", (("dependency", "database"),))] == 1
    assert samples[("taskdeck_queue_messages", (("priority", "0"), ("queue", queue)))] == 2
    assert samples[("taskdeck_queue_messages", (("priority", "9"), ("queue", queue)))] == 1
    assert samples[("taskdeck_staged_items", ())] == 1
    assert samples[("taskdeck_runs", (("state", "SUCCESS"),))] == 2
    assert samples[("taskdeck_runs_failed_last_hour", ())] == 1
    assert samples[("taskdeck_dispatch_running", ())] == 1
    assert ("taskdeck_process_alive", (("process", "recorder"),)) in samples


def test_metrics_say_redis_is_down_instead_of_failing(tmp_path, database_url):
    from dashboard import create_app
    from tests.conftest import app_config

    app = create_app(app_config(tmp_path, "redis://127.0.0.1:1/0", database_url, "td-m:"))
    samples = scrape(app.test_client())
    assert samples[("taskdeck_dependency_up", (("dependency", "redis"),))] == 0
    assert samples[("taskdeck_dependency_up", (("dependency", "database"),))] == 1
