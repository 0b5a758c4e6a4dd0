"""The bundled app runs tasks on a real worker, and the overview sees that worker."""

import pytest

pytestmark = pytest.mark.worker


def test_task_sent_through_bundled_app_runs_on_the_real_worker(celery_app, celery_worker):
    result = celery_app.send_task("tasks.add", args=(2, 3))
    assert result.get(timeout=30) == 5
    assert result.state == "SUCCESS"


def test_routed_task_runs_from_the_reports_queue(celery_app, celery_worker):
    result = celery_app.send_task("tasks.send_daily_report", kwargs={"recipient": "a@b.c"})
    assert result.get(timeout=30)["recipient"] == "a@b.c"
    # result_extended stores where the message came from.
    assert result.queue == "reports"


def test_failing_task_reports_failure(celery_app, celery_worker):
    result = celery_app.send_task("tasks.always_fails", args=("boom",))
    with pytest.raises(RuntimeError, match="boom"):
        result.get(timeout=30)
    assert result.state == "FAILURE"


def test_flaky_task_succeeds_after_automatic_retries(celery_app, celery_worker):
    result = celery_app.send_task("tasks.flaky", kwargs={"fail_times": 2})
    assert result.get(timeout=30) == "succeeded after 2 retries"


def test_overview_lists_the_answering_worker(client, celery_worker):
    html = client.get("/overview/tiles/workers", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "status-ok" in html
    assert celery_worker.hostname in html
