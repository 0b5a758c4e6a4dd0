"""Against a real worker: the page's order is the execution order; racing a worker is calm."""

from __future__ import annotations

import pytest

from tests.queues.conftest import consume
from tests.support.servers import wait_until

pytestmark = pytest.mark.worker

JSON = {"Content-Type": "application/json"}


def test_page_order_is_the_order_a_worker_then_executes(client, celery_app, idle_worker, send, queue_name):
    results = [send(priority, i) for i, priority in enumerate([None, 9, 0, 5, 3, 6, 9, 0, 1, 7, None, 4])]
    listed = client.get(f"/api/v1/queues/{queue_name}/messages").get_json()["messages"]
    html = client.get(f"/queues/{queue_name}").get_data(as_text=True)
    page_order = [m["task_id"] for m in listed]
    assert sorted(page_order) == sorted(r.id for r in results)
    assert [html.index(task_id) for task_id in page_order] == sorted(html.index(t) for t in page_order)

    consume(celery_app, idle_worker, queue_name)
    wait_until(lambda: all(r.ready() for r in results), timeout=60, what="the worker to run every task")
    executed = [r.id for r in sorted(results, key=lambda r: r.date_done)]
    assert executed == page_order


def test_deleting_a_message_a_worker_took_first_says_already_gone(
    client, celery_app, idle_worker, send, queue_name
):
    result = send(None, 1)
    page = client.get(f"/queues/{queue_name}").get_data(as_text=True)
    assert result.id in page  # the operator sees it and decides to delete it ...

    consume(celery_app, idle_worker, queue_name)  # ... but a worker takes it first
    assert result.get(timeout=60) == 1

    response = client.post(f"/queues/{queue_name}/messages/{result.id}/delete")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "already gone" in html
    assert f"Queue <code>{queue_name}</code>" in html  # the queue page, not an error page

    swapped = client.post(f"/queues/{queue_name}/messages/{result.id}/delete", headers={"HX-Request": "true"})
    assert swapped.status_code == 200 and "already gone" in swapped.get_data(as_text=True)

    api = client.delete(f"/api/v1/queues/{queue_name}/messages/{result.id}", headers=JSON)
    assert api.status_code == 404
    assert "already gone" in api.get_json()["error"]


def test_messages_a_worker_holds_for_a_countdown_are_shown_as_held(
    client, celery_app, idle_worker, send, queue_name
):
    held = send(None, 7, countdown=300)
    waiting_before = client.get(f"/api/v1/queues/{queue_name}/messages").get_json()["total"]
    assert waiting_before == 1
    consume(celery_app, idle_worker, queue_name)
    wait_until(
        lambda: client.get(f"/api/v1/queues/{queue_name}/messages").get_json()["total"] == 0,
        timeout=30,
        what="the worker to take the message",
    )
    body = wait_until(
        lambda: (b := client.get(f"/api/v1/queues/{queue_name}/held").get_json())["held"] and b,
        timeout=30,
        what="the held message",
    )
    item = body["held"][0]
    assert item["message"]["task_id"] == held.id
    assert item["state"] == "scheduled" and item["worker"] == idle_worker.hostname
    html = client.get(f"/queues/{queue_name}/held", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "held by a worker: scheduled" in html and held.id in html
    celery_app.control.revoke(held.id)
    celery_app.control.cancel_consumer(queue_name, destination=[idle_worker.hostname], reply=True)
