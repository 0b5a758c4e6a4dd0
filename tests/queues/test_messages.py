"""Waiting messages on real Redis: order, paging, decoding, delete and purge."""

from __future__ import annotations

import base64
import json

from dashboard.core.broker import BrokerLayout

SEP = "\x06\x16"
JSON = {"Content-Type": "application/json"}


def expected_order(sent: list[tuple[int | None, str]]) -> list[str]:
    """kombu's order: sub-list 0 before 3, 6, 9 (priority p waits in the largest step <= p), FIFO within."""
    steps = (0, 3, 6, 9)

    def step_of(priority):
        return max(s for s in steps if s <= (priority or 0))

    return [task_id for _, task_id in sorted(sent, key=lambda item: step_of(item[0]))]


def api_page(client, queue, **params):
    response = client.get(f"/api/v1/queues/{queue}/messages", query_string=params)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_messages_are_listed_next_to_run_first_across_priority_sublists(client, send, queue_name):
    sent = []
    for i, priority in enumerate([None, 9, 0, 5, 3, 6, 9, 0, 1, 7, None, 4]):
        sent.append((priority, send(priority, i).id))
    body = api_page(client, queue_name)
    assert [m["task_id"] for m in body["messages"]] == expected_order(sent)
    assert body["total"] == 12
    assert body["lengths"] == {"0": 5, "3": 3, "6": 2, "9": 2}
    assert [m["position"] for m in body["messages"]] == list(range(12))


def test_first_message_is_the_right_end_of_the_list(client, send, queue_name, redis_client):
    ids = [send(None, i).id for i in range(3)]
    head = json.loads(redis_client.lindex(queue_name, -1))["headers"]["id"]
    assert head == ids[0]
    assert api_page(client, queue_name, limit=1)["messages"][0]["task_id"] == ids[0]


def test_message_fields_are_decoded_from_headers(client, celery_app, queue_name):
    result = celery_app.send_task(
        "tasks.send_daily_report",
        kwargs={"recipient": "ops@example.com"},
        queue=queue_name,
        priority=6,
        countdown=600,
        expires=3600,
    )
    message = api_page(client, queue_name)["messages"][0]
    assert message["task"] == "tasks.send_daily_report"
    assert message["task_id"] == result.id
    assert message["kwargsrepr"] == "{'recipient': 'ops@example.com'}"
    assert message["argsrepr"] == "()"
    assert message["eta"] and message["expires"]
    assert message["retries"] == 0
    assert message["priority"] == 6 and message["priority_step"] == 6
    assert message["root_id"] == result.id
    assert message["decoded"] is True


def test_cursor_pages_visit_every_message_once_in_order(client, send, queue_name):
    sent = [(p, send(p, i).id) for i, p in enumerate([0, 3, 6, 9] * 6)]
    seen, cursor = [], None
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        body = api_page(client, queue_name, **params)
        seen += [m["task_id"] for m in body["messages"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == expected_order(sent)


def test_cursor_continues_after_the_last_shown_message_when_workers_took_some(
    client, send, queue_name, redis_client
):
    ids = [send(None, i).id for i in range(20)]
    first = api_page(client, queue_name, limit=5)
    for _ in range(3):  # a consumer takes the next three messages, as BRPOP does
        redis_client.rpop(queue_name)
    for i in range(2):  # and producers add more at the tail
        send(None, 100 + i)
    second = api_page(client, queue_name, limit=5, cursor=first["next_cursor"])
    assert [m["task_id"] for m in second["messages"]] == ids[5:10]


def test_position_jumps_to_a_deep_page(client, send, queue_name):
    ids = [send(None, i).id for i in range(30)]
    body = api_page(client, queue_name, position=25, limit=10)
    assert [m["task_id"] for m in body["messages"]] == ids[25:]
    assert body["next_cursor"] is None
    html = client.get(f"/queues/{queue_name}?position=25&limit=10").get_data(as_text=True)
    assert "26–30 of 30" in html


def test_malformed_messages_are_shown_as_undecodable_and_the_page_still_works(
    client, send, queue_name, redis_client
):
    good = send(None, 1).id
    pickled = {
        "body": base64.b64encode(b"\x80\x04\x95garbage").decode(),
        "content-type": "application/x-python-serialize",
        "content-encoding": "binary",
        "headers": {},
        "properties": {"body_encoding": "base64", "priority": 0},
    }
    redis_client.lpush(queue_name, b"\xff\xfe not json at all")
    redis_client.lpush(queue_name, json.dumps(pickled))
    redis_client.lpush(queue_name, b"[1, 2")
    after = send(None, 2).id
    response = client.get(f"/queues/{queue_name}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.count("cannot decode") == 3
    assert good in html and after in html
    body = api_page(client, queue_name)
    assert [m["decoded"] for m in body["messages"]] == [True, False, False, False, True]
    assert body["messages"][1]["raw_size"] == len(b"\xff\xfe not json at all")
    assert "not decoded" in body["messages"][2]["problem"]
    assert body["messages"][1]["problem"] == "not a JSON envelope"
    # The reasons follow the page's language; the API keeps them English (above).
    chinese = client.get(f"/queues/{queue_name}", query_string={"lang": "zh_CN"}).get_data(as_text=True)
    assert "不是 JSON 消息封装" in chinese
    assert "application/x-python-serialize 类型的消息体不予解码" in chinese
    assert "not a JSON envelope" not in chinese
    assert api_page(client, queue_name)["messages"][1]["problem"] == "not a JSON envelope"


def test_undecodable_message_can_be_deleted_by_its_bytes(client, send, queue_name, redis_client):
    send(None, 1)
    redis_client.lpush(queue_name, b"\x00garbage")
    send(None, 2)
    bad = api_page(client, queue_name)["messages"][1]
    assert bad["delete_key"].startswith("sha1:")
    response = client.delete(f"/api/v1/queues/{queue_name}/messages/{bad['delete_key']}", headers=JSON)
    assert response.status_code == 200
    assert b"\x00garbage" not in redis_client.lrange(queue_name, 0, -1)
    assert redis_client.llen(queue_name) == 2


def test_delete_removes_exactly_that_message(client, send, queue_name, redis_client):
    sent = [(p, send(p, i).id) for i, p in enumerate([0, 0, 6, 6, 0, 9])]
    victim = sent[3][1]
    before = {key: redis_client.lrange(key, 0, -1) for key in BrokerLayout().sub_lists(queue_name)}
    response = client.delete(f"/api/v1/queues/{queue_name}/messages/{victim}", headers=JSON)
    assert response.status_code == 200
    assert response.get_json()["deleted"]["task_id"] == victim
    after = {key: redis_client.lrange(key, 0, -1) for key in BrokerLayout().sub_lists(queue_name)}
    removed = [raw for raw in before[f"{queue_name}{SEP}6"] if raw not in after[f"{queue_name}{SEP}6"]]
    assert [json.loads(raw)["headers"]["id"] for raw in removed] == [victim]
    assert after[queue_name] == before[queue_name]
    assert after[f"{queue_name}{SEP}9"] == before[f"{queue_name}{SEP}9"]
    remaining = [m["task_id"] for m in api_page(client, queue_name)["messages"]]
    assert remaining == [task_id for task_id in expected_order(sent) if task_id != victim]


def test_deleting_a_message_twice_says_already_gone(client, send, queue_name):
    task_id = send(None, 1).id
    assert client.delete(f"/api/v1/queues/{queue_name}/messages/{task_id}", headers=JSON).status_code == 200
    again = client.delete(f"/api/v1/queues/{queue_name}/messages/{task_id}", headers=JSON)
    assert again.status_code == 404
    assert "already gone" in again.get_json()["error"]


def test_delete_does_not_match_a_task_id_that_only_appears_in_arguments(client, celery_app, queue_name):
    target = celery_app.send_task("tasks.add", args=(1, 2), queue=queue_name)
    decoy = celery_app.send_task("tasks.cleanup_expired_data", kwargs={"days": target.id}, queue=queue_name)
    celery_app.send_task("tasks.add", args=(3, 4), queue=queue_name)
    # Delete the target: the decoy, nearer the head, mentions the same id but is not that task.
    client.delete(f"/api/v1/queues/{queue_name}/messages/{target.id}", headers=JSON)
    left = [m["task_id"] for m in api_page(client, queue_name)["messages"]]
    assert target.id not in left and decoy.id in left and len(left) == 2


def test_html_delete_confirms_without_javascript_and_reports_back(client, send, queue_name, app):
    task_id = send(None, 1).id
    keep = send(None, 2).id
    confirm = client.get(f"/queues/{queue_name}/messages/{task_id}/delete")
    assert confirm.status_code == 200
    assert 'method="post"' in confirm.get_data(as_text=True)
    response = client.post(f"/queues/{queue_name}/messages/{task_id}/delete", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Deleted message {task_id}" in html
    assert keep in html
    from dashboard.portal.models import AuditEntry

    with app.app_context():
        actions = [entry.action for entry in AuditEntry.query.all()]
    assert actions == ["queue.delete_message"]


def test_htmx_delete_removes_the_row(client, send, queue_name):
    task_id = send(None, 1).id
    response = client.post(f"/queues/{queue_name}/messages/{task_id}/delete", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.get_data(as_text=True) == ""
    gone = client.post(f"/queues/{queue_name}/messages/{task_id}/delete", headers={"HX-Request": "true"})
    assert gone.status_code == 200
    assert "already gone" in gone.get_data(as_text=True)


def test_purge_empties_every_priority_sublist_at_once(client, send, queue_name, redis_client):
    for i, priority in enumerate([0, 3, 6, 9, 0]):
        send(priority, i)
    response = client.post(f"/api/v1/queues/{queue_name}/purge", json={})
    assert response.status_code == 200
    assert response.get_json()["purged"] == 5
    assert all(redis_client.llen(key) == 0 for key in BrokerLayout().sub_lists(queue_name))


def test_html_purge_asks_first_then_purges(client, send, queue_name):
    send(None, 1)
    assert "Purge queue" in client.get(f"/queues/{queue_name}/purge").get_data(as_text=True)
    response = client.post(f"/queues/{queue_name}/purge", follow_redirects=True)
    assert "Purged 1 waiting message from" in response.get_data(as_text=True)


def test_bad_paging_input_is_refused_with_the_field(client, queue_name):
    for params, field in [
        ({"cursor": "nonsense"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"position": "x"}, "position"),
    ]:
        response = client.get(f"/api/v1/queues/{queue_name}/messages", query_string=params)
        assert response.status_code == 400
        assert response.get_json()["field"] == field
    assert client.get(f"/queues/{queue_name}?cursor=nonsense").status_code == 400


def test_mutations_need_json_on_the_api(client, send, queue_name):
    task_id = send(None, 1).id
    assert client.delete(f"/api/v1/queues/{queue_name}/messages/{task_id}").status_code == 415
    assert client.post(f"/api/v1/queues/{queue_name}/purge").status_code == 415


def test_message_text_is_escaped(client, celery_app, queue_name):
    celery_app.send_task(
        "tasks.send_daily_report", kwargs={"recipient": "<script>alert(1)</script>"}, queue=queue_name
    )
    html = client.get(f"/queues/{queue_name}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_layout_follows_the_transport_options():
    layout = BrokerLayout.from_transport_options(
        {"sep": ":", "priority_steps": list(range(10)), "global_keyprefix": "app:", "unacked_key": "u"}
    )
    assert layout.sub_lists("q")[:3] == ["app:q", "app:q:1", "app:q:2"]
    assert layout.unacked == "app:u" and layout.unacked_index == "app:unacked_index"


def test_delete_needs_operator_and_purge_needs_admin():
    from dashboard.queues import views

    assert views.delete_message.required_role == "operator"
    assert views.api_delete_message.required_role == "operator"
    assert views.purge.required_role == "admin"
    assert views.api_purge.required_role == "admin"
    assert views.purge.audit_action == "queue.purge"
