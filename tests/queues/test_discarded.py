"""No run left hanging: a message deleted or purged from its queue ends its run DISCARDED, saying by
whom and how; the history stops waiting for it."""

from __future__ import annotations

from dashboard.core.runs import TaskRun, record_sent
from dashboard.extensions import db


def runs(app, ids) -> dict[str, TaskRun]:
    with app.app_context():
        found = db.session.query(TaskRun).filter(TaskRun.task_id.in_(ids)).all()
        db.session.expunge_all()
        return {run.task_id: run for run in found}


def sent(app, result, queue_name) -> None:
    """What the dashboard records of a send of its own: the run PENDING in the history."""
    with app.app_context():
        record_sent(
            db.session,
            task_id=result.id,
            name="tasks.add",
            args="[1, 0]",
            kwargs="{}",
            queue=queue_name,
            origin="operator",
        )


def test_a_purge_discards_every_waiting_run_even_those_the_history_never_heard_of(
    app, client, send, queue_name
):
    known = [send(priority, i) for i, priority in enumerate([0, 9, 5])]
    for result in known:
        sent(app, result, queue_name)
    unknown = send(None, 7)  # sent by other code: no history row yet
    response = client.post(f"/api/v1/queues/{queue_name}/purge", json={})
    assert response.get_json()["purged"] == 4
    found = runs(app, [r.id for r in [*known, unknown]])
    assert {run.state for run in found.values()} == {"DISCARDED"} and len(found) == 4
    run = found[known[0].id]
    assert run.exception == f"purged from queue {queue_name} by anonymous" and run.finished_at is not None
    assert found[unknown.id].name == "tasks.add" and found[unknown.id].queue == queue_name
    # The list shows it finished: no poll for it, no row left waiting.
    page = client.get("/history/?state=DISCARDED").get_data(as_text=True)
    assert known[0].id in page and f'name="live" value="{known[0].id}"' not in page


def test_deleting_one_message_discards_its_run_only(app, client, send, queue_name):
    victim, kept = send(None, 1), send(None, 2)
    for result in (victim, kept):
        sent(app, result, queue_name)
    assert client.post(f"/queues/{queue_name}/messages/{victim.id}/delete").status_code in (200, 303)
    found = runs(app, [victim.id, kept.id])
    assert found[victim.id].state == "DISCARDED" and "deleted from queue" in found[victim.id].exception
    assert found[kept.id].state == "PENDING"


def test_a_finished_run_whose_stale_copy_is_purged_keeps_its_end(app, client, send, queue_name):
    copy = send(None, 3)
    sent(app, copy, queue_name)
    with app.app_context():
        db.session.query(TaskRun).filter_by(task_id=copy.id).update({"state": "SUCCESS", "result": "3"})
        db.session.commit()
    client.post(f"/api/v1/queues/{queue_name}/purge", json={})
    assert runs(app, [copy.id])[copy.id].state == "SUCCESS"


def test_a_message_with_an_id_too_long_to_store_is_still_purged(app, client, celery_app, queue_name):
    long_id = "x" * 200
    celery_app.send_task("tasks.add", args=(1, 1), queue=queue_name, task_id=long_id)
    response = client.post(f"/api/v1/queues/{queue_name}/purge", json={})
    assert response.status_code == 200 and response.get_json()["purged"] == 1
    assert runs(app, [long_id[:64]]) == {}
