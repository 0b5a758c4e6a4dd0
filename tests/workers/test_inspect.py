"""What the dashboard shows about workers matches what the two real workers report themselves."""

import pytest
from celery.result import AsyncResult

from tests.support.servers import wait_until
from tests.workers.helpers import control, direct

pytestmark = pytest.mark.worker


def _row(client, hostname):
    rows = client.get("/api/v1/workers").get_json()["workers"]
    return next((row for row in rows if row["hostname"] == hostname), None)


def test_worker_list_reports_pool_prefetch_and_queues_as_each_worker_does(client, celery_app, two_workers):
    for area_worker in two_workers:
        row = wait_until(lambda h=area_worker.hostname: _row(client, h), timeout=20, what="listed")
        stats = direct(celery_app, area_worker.hostname, "stats")
        assert row["status"] == "online"
        assert row["info"]["pool"] == "prefork"
        assert row["info"]["pool_size"] == stats["pool"]["max-concurrency"]
        assert row["info"]["prefetch"] == stats["prefetch_count"]
        assert row["info"]["pid"] == stats["pid"]
        assert row["queues"] == [area_worker.queue]
        assert row["in_use"] == 0


def test_worker_page_sections_match_the_workers_own_replies(client, celery_app, two_workers):
    alpha = two_workers[0]
    body = client.get(f"/api/v1/workers/{alpha.hostname}").get_json()
    registered = direct(celery_app, alpha.hostname, "registered")
    assert {t["name"] for t in body["registered"]} == {line.split(" [")[0] for line in registered}
    assert [q["name"] for q in body["active_queues"]] == [alpha.queue]
    assert body["stats"]["pid"] == direct(celery_app, alpha.hostname, "stats")["pid"]
    assert body["conf"]["task_default_queue"] == "celery"
    assert body["status"] == "online"


def test_list_partial_shows_both_workers_online(client, two_workers):
    html = client.get("/workers/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in html and 'id="workers-content"' in html
    for area_worker in two_workers:
        assert area_worker.hostname in html
    assert "online" in html


def test_scheduled_task_shown_escaped_and_linked_to_history_then_revoked(client, celery_app, two_workers):
    alpha = two_workers[0]
    result = celery_app.send_task(
        "tasks.add", args=["<script>alert(1)</script>", 1], countdown=120, queue=alpha.queue
    )
    url = f"/workers/{alpha.hostname}/sections/scheduled"

    def listed():
        html = client.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
        return html if result.id in html else None

    html = wait_until(listed, timeout=20, what="scheduled task listed")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'href="/history/runs/{result.id}"' in html
    response = control(client, alpha.hostname, "revoke", task_id=result.id)
    assert response.status_code == 200
    assert response.get_json()["replies"][0]["ok"] is True
    wait_until(lambda: result.id in direct(celery_app, alpha.hostname, "revoked"), timeout=10, what="revoked")
    AsyncResult(result.id, app=celery_app).forget()


def test_unknown_worker_page_is_404(client, two_workers):
    assert client.get("/workers/nobody@nowhere").status_code == 404
    assert client.get("/api/v1/workers/nobody@nowhere").status_code == 404
    assert client.get(f"/workers/{two_workers[0].hostname}/sections/bogus").status_code == 404
