"""Moving a waiting message to the staging list: once, with its task id, and calm when raced."""

from __future__ import annotations

import json

import pytest

from tests.queues.conftest import consume
from tests.support.servers import wait_until


def staged(client) -> dict[str, dict]:
    return {item["id"]: item for item in client.get("/api/v1/staging").get_json()["items"]}


def waiting_ids(client, queue: str) -> list[str]:
    return [m["task_id"] for m in client.get(f"/api/v1/queues/{queue}/messages").get_json()["messages"]]


def test_moving_a_message_takes_it_out_of_the_queue_and_stages_it_once_with_the_same_id(
    client, send, queue_name
):
    first, moved, last = send(None, 1), send(5, 2), send(None, 3)
    response = client.post(f"/api/v1/queues/{queue_name}/messages/{moved.id}/stage", json={})
    assert response.status_code == 201, response.get_json()
    item = response.get_json()["staged"]
    assert (item["id"], item["task"], item["args"], item["kwargs"]) == (moved.id, "tasks.add", [2, 0], {})
    assert item["options"] == {"queue": queue_name, "priority": 5}
    assert item["note"] == f"moved from queue {queue_name}"
    assert sorted(waiting_ids(client, queue_name)) == sorted([first.id, last.id])
    assert list(staged(client)) == [moved.id]

    again = client.post(f"/api/v1/queues/{queue_name}/messages/{moved.id}/stage", json={})
    assert again.status_code == 404 and "already gone" in again.get_json()["error"]
    assert list(staged(client)) == [moved.id]
    assert sorted(waiting_ids(client, queue_name)) == sorted([first.id, last.id])


def test_the_page_button_moves_the_row_with_htmx_and_without_javascript(client, send, queue_name):
    by_htmx, by_form = send(None, 1), send(None, 2)
    page = client.get(f"/queues/{queue_name}").get_data(as_text=True)
    assert f'hx-post="/queues/{queue_name}/messages/{by_htmx.id}/stage"' in page
    assert "to the staging list?" in page  # hx-confirm asks first

    row = client.post(f"/queues/{queue_name}/messages/{by_htmx.id}/stage", headers={"HX-Request": "true"})
    assert row.status_code == 200 and "Moved" in row.get_data(as_text=True)
    assert 'href="/staging/"' in row.get_data(as_text=True)

    confirm = client.get(f"/queues/{queue_name}/messages/{by_form.id}/stage").get_data(as_text=True)
    assert f'action="/queues/{queue_name}/messages/{by_form.id}/stage"' in confirm
    done = client.post(f"/queues/{queue_name}/messages/{by_form.id}/stage", follow_redirects=True)
    assert done.status_code == 200 and f"Moved message {by_form.id}" in done.get_data(as_text=True)
    assert set(staged(client)) == {by_htmx.id, by_form.id}
    assert waiting_ids(client, queue_name) == []


def test_unknown_tasks_and_undecodable_messages_are_refused_and_stay_waiting(
    client, celery_app, redis_client, queue_name
):
    unknown = celery_app.send_task("tasks.not_in_the_app", args=[1], queue=queue_name)
    pickled = {
        "body": "gASVAAAAAAAAAAA=",
        "content-type": "application/x-python-serialize",
        "content-encoding": "binary",
        "headers": {"task": "tasks.add", "id": "pickled-1", "lang": "py"},
        "properties": {"body_encoding": "base64", "priority": 0},
    }
    redis_client.lpush(queue_name, json.dumps(pickled))
    response = client.post(f"/api/v1/queues/{queue_name}/messages/{unknown.id}/stage", json={})
    assert (response.status_code, response.get_json()["field"]) == (404, "task")
    response = client.post(f"/api/v1/queues/{queue_name}/messages/pickled-1/stage", json={})
    assert response.status_code == 422 and "is not decoded" in response.get_json()["error"]
    row = client.post(f"/queues/{queue_name}/messages/pickled-1/stage", headers={"HX-Request": "true"})
    assert "cannot be moved to staging" in row.get_data(as_text=True)
    assert staged(client) == {}
    assert sorted(waiting_ids(client, queue_name)) == sorted([unknown.id, "pickled-1"])


def test_workflow_messages_are_refused_because_staging_would_drop_the_links(client, celery_app, queue_name):
    signature = celery_app.signature("tasks.add", args=(1, 2), queue=queue_name)
    linked = signature.apply_async(link=celery_app.signature("tasks.add", args=(3,)))
    response = client.post(f"/api/v1/queues/{queue_name}/messages/{linked.id}/stage", json={})
    assert response.status_code == 422 and "workflow (callbacks)" in response.get_json()["error"]
    assert staged(client) == {} and waiting_ids(client, queue_name) == [linked.id]


def test_a_broker_on_another_redis_database_is_refused_clearly(app, client, send, queue_name, redis_server):
    message = send(None, 1)
    app.config["CELERY_BROKER_URL"] = redis_server.url.rsplit("/", 1)[0] + "/9"
    response = client.post(f"/api/v1/queues/{queue_name}/messages/{message.id}/stage", json={})
    assert response.status_code == 409
    assert "same Redis server and database" in response.get_json()["error"]
    assert staged(client) == {}


def test_moving_needs_the_operator_role_and_is_audited():
    from dashboard.queues import views

    assert views.stage_message.required_role == "operator"
    assert views.api_stage_message.required_role == "operator"
    assert views.stage_message.audit_action == "queue.stage_message"


@pytest.mark.worker
def test_a_worker_taking_the_message_first_gives_already_gone_and_stages_nothing(
    app, client, celery_app, idle_worker, send, queue_name, redis_client
):
    from dashboard.redis_client import get_celery
    from dashboard.staging import service as staging

    result = send(None, 7)
    [raw] = redis_client.lrange(queue_name, 0, -1)  # the exact bytes the move has found ...
    consume(celery_app, idle_worker, queue_name)  # ... but a worker takes the message first
    assert result.get(timeout=60) == 7

    prefix = app.config["TASKDECK_KEY_PREFIX"]
    with app.app_context():
        item = staging.build_item(
            get_celery(),
            {"task": "tasks.add", "args": [7, 0]},
            staged_by="t",
            max_bytes=65536,
            item_id=result.id,
        )
        assert staging.stage_from_queue(redis_client, prefix, item, queue_name, raw) is None
    response = client.post(f"/api/v1/queues/{queue_name}/messages/{result.id}/stage", json={})
    assert response.status_code == 404 and "already gone" in response.get_json()["error"]
    row = client.post(f"/queues/{queue_name}/messages/{result.id}/stage", headers={"HX-Request": "true"})
    assert row.status_code == 200 and "already gone" in row.get_data(as_text=True)
    assert staged(client) == {}
    idle_worker_stops(celery_app, idle_worker, queue_name)


@pytest.mark.worker
def test_a_moved_message_released_later_runs_with_the_same_task_id(
    client, celery_app, idle_worker, send, queue_name
):
    result = send(9, 20)
    assert client.post(f"/api/v1/queues/{queue_name}/messages/{result.id}/stage", json={}).status_code == 201
    consume(celery_app, idle_worker, queue_name)  # the queue is empty: nothing runs yet
    released = client.post(f"/api/v1/staging/{result.id}/release", json={})
    assert released.status_code == 200 and released.get_json()["queue"] == queue_name
    assert result.get(timeout=60) == 20
    wait_until(lambda: staged(client) == {}, timeout=5, what="the staging list to be empty")
    idle_worker_stops(celery_app, idle_worker, queue_name)


def idle_worker_stops(celery_app, worker, queue: str) -> None:
    """Leave the module's worker idle again for the next test's queue."""
    celery_app.control.cancel_consumer(queue, destination=[worker.hostname], reply=True, timeout=10)
