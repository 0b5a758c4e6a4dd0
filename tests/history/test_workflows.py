"""End to end, with a real worker and recorder: every attempt of a retried run, and workflows
(chain, group, chord) as trees, revoked whole."""

from __future__ import annotations

import re

import pytest
from celery import chain, chord, group

from tests.history.conftest import wait_for_state
from tests.support.servers import wait_until

pytestmark = pytest.mark.worker


def test_a_run_retried_twice_then_succeeding_is_one_run_with_three_attempts_and_two_exceptions(
    client, celery_app, recorder, fetch_run
):
    task_id = celery_app.signature("tasks.flaky", kwargs={"fail_times": 2}).apply_async().id
    run = wait_for_state(fetch_run, task_id, "SUCCESS")
    # The retries' own messages name the run as their parent: it is not its own parent or child.
    assert run.parent_id is None
    assert run.attempts == 3

    detail = client.get(f"/api/v1/runs/{task_id}").get_json()
    assert detail["attempts"] == 3
    entries = detail["timeline"]["entries"]
    assert sorted({e["n"] for e in entries}) == [1, 2, 3]
    retried = [e for e in entries if e["k"] == "retried"]
    assert [e["n"] for e in retried] == [1, 2]
    assert "ConnectionError('attempt 1 failed on purpose')" in retried[0]["x"]
    assert "ConnectionError('attempt 2 failed on purpose')" in retried[1]["x"]
    ends = [e for e in entries if e["k"] in ("succeeded", "failed")]
    assert [(e["k"], e["n"]) for e in ends] == [("succeeded", 3)]
    # Each later attempt was received again, due when the retry said.
    assert [e["n"] for e in entries if e["k"] == "received"] == [1, 2, 3]
    assert all(e.get("eta") for e in entries if e["k"] == "received" and e["n"] > 1)

    page = client.get(f"/history/runs/{task_id}").get_data(as_text=True)
    assert "3 attempts" in page
    for number in (1, 2, 3):
        assert f'id="attempt-{number}"' in page
    assert page.count("failed on purpose") == 2
    assert "Children" not in page and 'id="run-workflow-title"' not in page


def test_a_failed_run_shows_its_attempts_and_exception_in_the_list(client, celery_app, recorder, fetch_run):
    task_id = celery_app.send_task("tasks.always_fails", kwargs={"message": "list shows me"}).id
    wait_for_state(fetch_run, task_id, "FAILURE")
    listed = client.get("/api/v1/runs?state=FAILURE").get_json()["runs"]
    mine = next(r for r in listed if r["id"] == task_id)
    assert mine["attempts"] == 1 and "list shows me" in mine["exception"]
    page = client.get("/history/?state=FAILURE").get_data(as_text=True)
    row = re.search(rf'<tr id="run-\d+"[^>]*data-task-id="{task_id}".*?</tr>', page, re.S).group(0)
    assert "list shows me" in row


def _tree(client, task_id: str) -> dict:
    response = client.get(f"/api/v1/runs/{task_id}/workflow")
    assert response.status_code == 200
    return response.get_json()


def test_a_chain_of_three_is_a_line_of_parent_and_child(client, celery_app, recorder, fetch_run):
    s = celery_app.signature
    steps = (s("tasks.add", args=(1, 2)), s("tasks.add", args=(3,)), s("tasks.add", args=(4,)))
    last = chain(*steps).apply_async()
    first, middle = last.parent.parent.id, last.parent.id
    assert wait_for_state(fetch_run, last.id, "SUCCESS").result == "10"
    for task_id in (first, middle, last.id):  # found from any of its runs
        flow = _tree(client, task_id)
        assert flow["runs"] == 3 and flow["states"] == {"SUCCESS": 3}
        (top,) = flow["tree"]
        assert top["id"] == first
        (second,) = top["children"]
        assert second["id"] == middle
        (third,) = second["children"]
        assert (third["id"], third["children"]) == (last.id, [])
    page = client.get(f"/history/runs/{middle}").get_data(as_text=True)
    section = page.split('id="run-workflow-title"')[1]
    assert section.index(first[:8]) < section.index(middle[:8]) < section.index(last.id[:8])
    assert "(this run)" in section


def test_a_group_of_five_is_one_group_node_with_five_members(client, celery_app, recorder, fetch_run):
    s = celery_app.signature
    members = group(s("tasks.add", args=(n, n)) for n in range(5)).apply_async()
    ids = [member.id for member in members.results]
    for task_id in ids:
        wait_until(
            lambda task_id=task_id: (run := fetch_run(task_id)) and run.state == "SUCCESS" and run.group_id,
            timeout=45,
            what=f"member {task_id} finished with its group",
        )
    flow = _tree(client, ids[2])
    assert flow["runs"] == 5
    (node,) = flow["tree"]
    assert node["group_id"] == members.id
    assert sorted(m["id"] for m in node["members"]) == sorted(ids)
    assert node["callbacks"] == []
    page = client.get(f"/history/runs/{ids[0]}").get_data(as_text=True)
    assert "group of 5" in page


def test_a_chord_shows_its_header_group_then_its_callback(client, celery_app, recorder, fetch_run):
    s = celery_app.signature
    callback = chord([s("tasks.add", args=(n, 1)) for n in range(4)], s("tasks.total"))()
    run = wait_for_state(fetch_run, callback.id, "SUCCESS")
    assert run.result in ("10", "10.0")
    wait_until(lambda: _tree(client, callback.id)["runs"] == 5, timeout=45, what="the chord's five runs")
    flow = _tree(client, callback.id)
    (node,) = flow["tree"]
    assert len(node["members"]) == 4
    assert [c["id"] for c in node["callbacks"]] == [callback.id]
    assert all(member["children"] == [] for member in node["members"])
    page = client.get(f"/history/runs/{callback.id}").get_data(as_text=True)
    assert "then (chord callback)" in page and "group of 4" in page


def test_revoking_a_workflow_revokes_its_running_step_and_the_step_it_sends_later(
    client, celery_app, recorder, fetch_run, celery_worker, declare_queue
):
    """The first step runs on (revoke does not kill it), sends the second when it ends: the
    recorder revokes that one on sight, so it never runs and the third is never sent."""
    parked = declare_queue("workflow-parked")
    s = celery_app.signature
    last = chain(
        s("tasks.long_task", kwargs={"steps": 40, "step_seconds": 0.05}),
        s("tasks.echo", immutable=True, kwargs={"value": "second"}).set(queue=parked),
        s("tasks.echo", immutable=True, kwargs={"value": "third"}),
    ).apply_async()
    first, second = last.parent.parent.id, last.parent.id
    wait_until(
        lambda: (run := fetch_run(first)) and run.state in ("STARTED", "PROGRESS"),
        timeout=45,
        what="the first step running",
    )
    refused = client.post(f"/api/v1/runs/{first}/revoke-workflow", json={"terminate": "yes"})
    assert refused.status_code == 422 and refused.get_json()["field"] == "terminate"
    response = client.post(f"/api/v1/runs/{first}/revoke-workflow", json={})
    assert response.status_code == 202
    assert response.get_json()["revoked"] == [first]

    assert wait_for_state(fetch_run, first, "SUCCESS")  # not terminated: it ran to its end
    inspector = celery_app.control.inspect(destination=[celery_worker.hostname], timeout=2)
    wait_until(
        lambda: second in ((inspector.revoked() or {}).get(celery_worker.hostname) or []),
        timeout=45,
        what="the second step revoked on sight",
    )
    celery_app.control.add_consumer(parked, destination=[celery_worker.hostname], reply=True)
    try:
        assert wait_for_state(fetch_run, second, "REVOKED")
    finally:
        celery_app.control.cancel_consumer(parked, destination=[celery_worker.hostname], reply=True)
    flow = _tree(client, first)
    assert flow["runs"] == 2 and flow["states"] == {"REVOKED": 1, "SUCCESS": 1}
    assert fetch_run(last.id) is None  # never sent
    finished = client.post(f"/api/v1/runs/{first}/revoke-workflow", json={})
    assert finished.status_code == 400 and "already finished" in finished.get_json()["error"]
