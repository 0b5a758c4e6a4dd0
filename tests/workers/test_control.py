"""Control commands reach the real workers, with their replies shown, and bad input changes nothing."""

import pytest
from celery.result import AsyncResult

from dashboard.portal.models import AuditEntry
from tests.support.servers import wait_until
from tests.workers.helpers import consumed, control, direct, holds_for, process_count

pytestmark = pytest.mark.worker


def test_pool_grow_and_shrink_change_the_pool(client, celery_app, two_workers):
    beta = two_workers[1]
    before = process_count(celery_app, beta.hostname)
    grown = control(client, beta.hostname, "pool_grow", n=1)
    assert grown.status_code == 200
    assert grown.get_json()["replies"] == [
        {"hostname": beta.hostname, "ok": True, "message": "pool will grow"}
    ]
    wait_until(lambda: process_count(celery_app, beta.hostname) == before + 1, timeout=20, what="pool grown")
    assert control(client, beta.hostname, "pool_shrink", n=1).status_code == 200
    wait_until(lambda: process_count(celery_app, beta.hostname) == before, timeout=20, what="pool shrunk")


def test_cancel_then_add_consumer_pauses_and_resumes_a_queue(client, celery_app, redis_client, two_workers):
    alpha = two_workers[0]
    paused = control(client, alpha.hostname, "cancel_consumer", queue=alpha.queue)
    assert paused.get_json()["replies"][0]["ok"] is True
    wait_until(lambda: alpha.queue not in consumed(celery_app, alpha.hostname), timeout=20, what="paused")
    # Let a receive already in flight when the consumer was cancelled run out.
    assert holds_for(lambda: alpha.queue not in consumed(celery_app, alpha.hostname), 1.5)

    result = celery_app.send_task("tasks.add", args=(20, 22), queue=alpha.queue)
    assert holds_for(lambda: redis_client.llen(alpha.queue) == 1 and result.state == "PENDING", 3)
    page = client.get(f"/workers/{alpha.hostname}/sections/active_queues", headers={"HX-Request": "true"})
    assert "paused" in page.get_data(as_text=True)

    resumed = control(client, alpha.hostname, "add_consumer", queue=alpha.queue)
    assert resumed.get_json()["replies"][0]["ok"] is True
    assert result.get(timeout=30) == 42
    assert alpha.queue in consumed(celery_app, alpha.hostname)


def test_rate_limit_and_time_limit_are_applied_and_reported(client, celery_app, two_workers):
    beta = two_workers[1]
    task = "tasks.cleanup_expired_data"
    reply = control(client, beta.hostname, "rate_limit", task_name=task, rate_limit="7/m").get_json()
    assert reply["replies"][0]["ok"] is True
    reply = control(client, beta.hostname, "time_limit", task_name=task, soft=30, hard=60).get_json()
    assert reply["replies"][0]["ok"] is True
    registered = direct(celery_app, beta.hostname, "registered", "rate_limit", "time_limit")
    assert f"{task} [rate_limit=7/m time_limit=60.0]" in registered
    shown = client.get(f"/api/v1/workers/{beta.hostname}").get_json()["registered"]
    limits = next(t["attributes"] for t in shown if t["name"] == task)
    assert limits["rate_limit"] == "7/m" and limits["soft_time_limit"] == "30.0"


def test_terminate_ends_a_running_task(client, celery_app, two_workers):
    beta = two_workers[1]
    result = celery_app.send_task(
        "tasks.long_task", kwargs={"steps": 300, "step_seconds": 0.2}, queue=beta.queue
    )

    def running():
        active = client.get(f"/api/v1/workers/{beta.hostname}").get_json()["active"] or []
        return any(task["id"] == result.id for task in active)

    wait_until(running, timeout=30, what="task active")
    reply = control(client, beta.hostname, "terminate", task_id=result.id, signal="SIGTERM").get_json()
    assert reply["replies"][0]["ok"] is True
    wait_until(lambda: AsyncResult(result.id, app=celery_app).state == "REVOKED", timeout=30, what="revoked")
    wait_until(lambda: not direct(celery_app, beta.hostname, "active"), timeout=20, what="no longer active")


def test_autoscale_refusal_by_the_worker_is_shown_as_its_reply(client, two_workers):
    alpha = two_workers[0]
    response = client.post(
        f"/workers/{alpha.hostname}/control/autoscale",
        data={"max": "4", "min": "1"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert alpha.hostname in html and "Autoscale not enabled" in html


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"command": "format_disk", "arguments": {}}, "command"),
        ({"command": "pool_grow", "arguments": {"n": "lots"}}, "n"),
        ({"command": "pool_grow", "arguments": {"n": 0}}, "n"),
        ({"command": "pool_grow", "arguments": {"n": 1, "extra": 2}}, "extra"),
        (
            {"command": "rate_limit", "arguments": {"task_name": "tasks.add", "rate_limit": "fast"}},
            "rate_limit",
        ),
        ({"command": "autoscale", "arguments": {"max": 1, "min": 3}}, "min"),
        ({"command": "terminate", "arguments": {"task_id": "x", "signal": "SIGSTOP"}}, "signal"),
        ({"command": "add_consumer", "arguments": {}}, "queue"),
    ],
)
def test_invalid_commands_and_arguments_are_refused_with_the_field(client, body, field):
    response = client.post("/api/v1/workers/someone@host/control", json=body)
    assert response.status_code == 422
    assert response.get_json()["field"] == field


def test_html_form_error_is_shown_next_to_the_field(client, app):
    response = client.post("/workers/someone@host/control/pool_grow", data={"n": "-3"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'class="field-error"' in html and "at least 1" in html
    with app.app_context():
        entry = AuditEntry.query.order_by(AuditEntry.id.desc()).first()
        assert entry.action == "worker.pool_grow" and entry.result == "422"


def test_destructive_command_without_javascript_asks_for_confirmation_first(client, two_workers):
    alpha = two_workers[0]
    page = client.get(f"/workers/{alpha.hostname}/confirm/pool_shrink?n=1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Confirm: Shrink pool" in html
    assert f'action="/workers/{alpha.hostname}/control/pool_shrink"' in html
    detail = client.get(f"/workers/{alpha.hostname}").get_data(as_text=True)
    assert 'hx-confirm="Shrink pool on' in detail and 'hx-confirm="Shut down on' in detail
