"""Retry with changes: a finished run sent again with edited arguments or options, validated as
the run form validates (every refusal names its field and sends nothing), under a role of its
own; and "clone into the run form"."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from tests.api.conftest import GROUP_ROLES, header_mode_app
from tests.history.conftest import wait_for_state

pytestmark = pytest.mark.worker


def _finished_add(celery_app, fetch_run, *args) -> str:
    task_id = celery_app.send_task("tasks.add", args=list(args)).id
    wait_for_state(fetch_run, task_id, "SUCCESS")
    return task_id


def _runs(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(TaskRun))


def test_a_run_retried_with_changed_arguments_runs_them_linked_to_the_original(
    app, client, celery_app, recorder, fetch_run
):
    old = _finished_add(celery_app, fetch_run, 2, 3)
    response = client.post(f"/api/v1/runs/{old}/retry-with-changes", json={"args": [20, 22], "priority": 5})
    assert response.status_code == 201, response.get_json()
    new = response.get_json()["id"]
    run = wait_for_state(fetch_run, new, "SUCCESS")
    assert (run.result, run.retry_of, run.origin, run.queue) == ("42", old, "operator", "celery")

    # The page's form: the exact arguments to start from, a refusal shown at its field.
    page = client.get(f"/history/runs/{old}").get_data(as_text=True)
    assert "Retry with changes" in page and "[2, 3]</textarea>" in page
    before = _runs(app)
    refused = client.post(f"/history/runs/{old}/retry-with-changes", data={"args": "[1]", "kwargs": "{}"})
    assert refused.status_code == 422
    assert 'role="alert">args:' in refused.get_data(as_text=True)
    assert _runs(app) == before
    sent = client.post(f"/history/runs/{old}/retry-with-changes", data={"args": "[1, 1]", "kwargs": "{}"})
    assert sent.status_code == 302 and "/history/runs/" in sent.headers["Location"]
    assert wait_for_state(fetch_run, sent.headers["Location"].rsplit("/", 1)[1], "SUCCESS").result == "2"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"args": "not json"}, "args"),
        ({"args": {"a": 1}}, "args"),
        ({"args": [1]}, "args"),  # tasks.add takes two
        ({"kwargs": [1]}, "kwargs"),
        ({"countdown": 1e12}, "countdown"),
        ({"countdown": -1}, "countdown"),
        ({"priority": 99}, "priority"),
        ({"queue": "no-such-queue"}, "queue"),
        ({"eta": "9999-12-31T23:59:59", "timezone": "America/New_York"}, "eta"),
        ({"timezone": "Europe"}, "timezone"),
        ({"task": "tasks.always_fails"}, "task"),
        ({"args": ["x" * 70000, "y"]}, "args"),  # over MAX_PAYLOAD_BYTES, under the body limit
    ],
)
def test_every_bad_change_is_refused_naming_its_field_and_nothing_is_sent(
    app, client, celery_app, recorder, fetch_run, redis_client, changes, field
):
    old = _finished_add(celery_app, fetch_run, 1, 2)
    before, waiting = _runs(app), redis_client.llen("celery")
    response = client.post(f"/api/v1/runs/{old}/retry-with-changes", json=changes)
    assert response.status_code in (413, 422), response.get_json()
    assert response.get_json()["field"] == field
    assert (_runs(app), redis_client.llen("celery")) == (before, waiting)


def test_retry_with_changes_needs_its_own_role_and_clone_fills_the_run_form(
    app, client, celery_app, recorder, fetch_run, tmp_path, redis_server, database_url
):
    old = _finished_add(celery_app, fetch_run, 4, 5)
    guarded = header_mode_app(tmp_path, redis_server.url, database_url)
    assert guarded.config["RETRY_WITH_CHANGES_ROLE"] == "admin" and "td-operators=operator" in GROUP_ROLES
    browser = guarded.test_client()
    operator = {"X-Forwarded-User": "otto", "X-Forwarded-Groups": "td-operators"}
    refused = browser.post(f"/api/v1/runs/{old}/retry-with-changes", json={"args": [1, 1]}, headers=operator)
    assert refused.status_code == 403
    assert browser.post(f"/api/v1/runs/{old}/retry", json={}, headers=operator).status_code == 201
    page = browser.get(f"/history/runs/{old}", headers=operator).get_data(as_text=True)
    assert "Clone into the run form" in page and "Retry with changes" not in page
    lowered = header_mode_app(
        tmp_path / "lowered", redis_server.url, database_url, RETRY_WITH_CHANGES_ROLE="operator"
    )
    assert (
        lowered.test_client()
        .post(f"/api/v1/runs/{old}/retry-with-changes", json={"args": [1, 1]}, headers=operator)
        .status_code
        == 201
    )

    form = client.get(f"/tasks/tasks.add?clone={old}").get_data(as_text=True)
    assert "[4, 5]</textarea>" in form
    assert client.get(f"/tasks/tasks.add?clone={uuid.uuid4()}").status_code == 200  # unknown: an empty form
