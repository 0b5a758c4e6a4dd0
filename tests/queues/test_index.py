"""The queue list: every known queue, lengths summed over priorities, the oldest message's age."""

from __future__ import annotations

from datetime import timedelta

from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.timeutil import utcnow


def queues_by_name(client):
    response = client.get("/api/v1/queues")
    assert response.status_code == 200
    return {q["name"]: q for q in response.get_json()["queues"]}


def test_index_lists_bound_and_configured_queues_with_summed_lengths(client, send, queue_name):
    for i, priority in enumerate([0, 3, 6, 9, 9]):
        send(priority, i)
    queues = queues_by_name(client)
    assert queues[queue_name]["length"] == 5
    assert queues[queue_name]["lengths"] == {"0": 1, "3": 1, "6": 1, "9": 2}
    assert "bindings" in queues[queue_name]["sources"]
    assert "config" in queues["reports"]["sources"]
    html = client.get("/queues/").get_data(as_text=True)
    assert queue_name in html
    assert not any(name.endswith("pidbox") for name in queues)


def test_index_fragment_is_polled_with_the_operators_interval(client, send, queue_name):
    send(None, 1)
    client.set_cookie("td_poll_queues", "10")
    html = client.get("/queues/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert html.lstrip().startswith('<section id="queues-content"')
    assert 'hx-trigger="every 10s"' in html


def test_oldest_age_is_unknown_without_a_send_time(client, send, queue_name):
    send(None, 1)
    queue = queues_by_name(client)[queue_name]
    assert queue["oldest_age"] is None
    assert "unknown" in client.get("/queues/").get_data(as_text=True)


def test_oldest_age_comes_from_the_recorded_send_time(app, client, send, queue_name):
    oldest = send(None, 1)
    send(None, 2)
    with app.app_context():
        sent_at = utcnow() - timedelta(minutes=5)
        db.session.add(TaskRun(task_id=oldest.id, name="tasks.add", queue=queue_name, sent_at=sent_at))
        db.session.commit()
    queue = queues_by_name(client)[queue_name]
    assert 300 <= queue["oldest_age"] < 3600
    assert queue["oldest_age_source"] == "history"
