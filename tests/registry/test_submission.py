"""Run requests that go to the staging list instead ("stage instead") or decide by load ("auto")."""

import pytest

from dashboard.core.runs import TaskRun


@pytest.fixture(autouse=True)
def quick_inspect(app):
    """These tests never need workers' answers: do not wait a full second for them on every page."""
    app.config["INSPECT_TIMEOUT"] = 0.2


def staged(client) -> dict[str, dict]:
    """The staging list, id -> item, through its own API."""
    return {item["id"]: item for item in client.get("/api/v1/staging").get_json()["items"]}


def history_rows(app) -> list[TaskRun]:
    from dashboard.extensions import db

    with app.app_context():
        return list(db.session.scalars(db.select(TaskRun)))


def test_stage_instead_from_the_api_puts_the_run_in_the_staging_list_and_nothing_in_the_broker(
    app, client, unique_queue
):
    response = client.post(
        "/api/v1/tasks/tasks.add/run",
        json={
            "args": [2, 3],
            "queue": unique_queue.name,
            "priority": 5,
            "countdown": 30,
            "expires": 600,
            "submission": "staged",
            "note": "after the backup",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["outcome"] == "staged" and body["submission"] == "staged"
    assert body["links"]["staging"] == "/staging/"
    assert body["links"]["history"] == f"/history/runs/{body['task_id']}"
    item = staged(client)[body["task_id"]]
    assert (item["task"], item["args"], item["kwargs"], item["note"]) == (
        "tasks.add",
        [2, 3],
        {},
        "after the backup",
    )
    # Relative times count from the release, as they count from sending for a direct run.
    assert item["options"] == {"queue": unique_queue.name, "priority": 5, "countdown": 30.0, "expires": 600.0}
    assert item["staged_by"]
    assert unique_queue.length() == 0
    assert history_rows(app) == []


def test_stage_instead_from_the_form_says_where_the_work_went(app, client, unique_queue):
    response = client.post(
        "/tasks/tasks.add/run",
        data={
            "mode": "json",
            "args": "[4, 5]",
            "kwargs": "{}",
            "when": "eta",
            "eta": "2099-03-01T10:30:00",
            "timezone": "Europe/Paris",
            "queue": unique_queue.name,
            "submission": "staged",
        },
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    [item] = staged(client).values()
    assert "Staged as" in html and item["id"] in html
    assert 'href="/staging/"' in html and f'href="/history/runs/{item["id"]}"' in html
    assert "run-state" not in html  # nothing to poll: it has not been sent
    assert item["args"] == [4, 5]
    assert item["options"] == {"queue": unique_queue.name, "eta": "2099-03-01T09:30:00+00:00"}
    assert unique_queue.length() == 0


def test_auto_sends_directly_when_the_list_is_empty_and_the_queue_is_idle(app, client, unique_queue):
    response = client.post(
        "/api/v1/tasks/tasks.add/run",
        json={"args": [1, 2], "queue": unique_queue.name, "submission": "auto"},
    )
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["outcome"] == "sent" and body["submission"] == "auto"
    _key, message = unique_queue.only_message()
    assert message["headers"]["id"] == body["task_id"]
    assert message["decoded_body"][0] == [1, 2]
    assert staged(client) == {}
    [row] = history_rows(app)
    assert (row.task_id, row.origin, row.queue) == (body["task_id"], "operator", unique_queue.name)


def test_auto_stages_when_the_queue_is_at_the_low_water_mark(app, client, celery_app, unique_queue):
    celery_app.send_task("tasks.add", args=[0, 0], queue=unique_queue.name)  # low-water mark is 1
    response = client.post(
        "/api/v1/tasks/tasks.add/run",
        json={"args": [1, 2], "queue": unique_queue.name, "submission": "auto"},
    )
    assert response.status_code == 201
    assert response.get_json()["outcome"] == "staged"
    assert list(staged(client)) == [response.get_json()["task_id"]]
    assert unique_queue.length() == 1


def test_auto_stages_behind_work_already_staged_even_when_the_queue_is_idle(app, client, unique_queue):
    first = client.post(
        "/api/v1/tasks/tasks.add/run",
        json={"args": [1, 1], "queue": unique_queue.name, "submission": "staged"},
    ).get_json()["task_id"]
    client.put("/api/v1/staging/dispatcher", json={"low_water": 5})
    response = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": [2, 2], "queue": unique_queue.name, "submission": "auto"}
    )
    assert response.get_json()["outcome"] == "staged"
    assert list(staged(client)) == [first, response.get_json()["task_id"]]
    assert unique_queue.length() == 0


def test_auto_from_the_form_reports_a_direct_send(app, client, unique_queue):
    response = client.post(
        "/tasks/tasks.add/run",
        data={"mode": "json", "args": "[1, 2]", "queue": unique_queue.name, "submission": "auto"},
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    _key, message = unique_queue.only_message()
    assert f'Sent as <code class="task-id">{message["headers"]["id"]}</code>' in html
    assert "auto: the staging list was empty" in html


# name: (JSON body without queue and submission, status, field)
BAD = {
    "unknown task": ({"task": "tasks.nope", "args": []}, 404, "task"),
    "arguments that do not bind": ({"args": [1]}, 422, "args"),
    "eta in the past": ({"args": [1, 2], "eta": "2000-01-01T00:00:00Z"}, 422, "eta"),
    "priority out of range": ({"args": [1, 2], "priority": 12}, 422, "priority"),
    "unknown queue": ({"args": [1, 2], "queue": "no-such-queue"}, 422, "queue"),
    "note too long": ({"args": [1, 2], "note": "x" * 501}, 422, "note"),
    "oversized payload": ({"args": ["x" * 70_000, 1]}, 422, "args"),
}


@pytest.mark.parametrize("submission", ["staged", "auto"])
@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_stages_nothing_and_sends_nothing(app, client, unique_queue, case, submission):
    given, status, field = BAD[case]
    task = given.get("task", "tasks.add")
    body = {"queue": unique_queue.name, **{k: v for k, v in given.items() if k != "task"}}
    response = client.post(f"/api/v1/tasks/{task}/run", json={**body, "submission": submission})
    assert (response.status_code, response.get_json()["field"]) == (status, field)
    assert staged(client) == {}
    assert unique_queue.length() == 0
    assert history_rows(app) == []


def test_an_unknown_submission_mode_is_refused_and_nothing_happens(app, client, unique_queue):
    response = client.post(
        "/api/v1/tasks/tasks.add/run",
        json={"args": [1, 2], "queue": unique_queue.name, "submission": "later"},
    )
    assert (response.status_code, response.get_json()["field"]) == (422, "submission")
    form = client.post(
        "/tasks/tasks.add/run",
        data={"mode": "json", "args": "[1, 2]", "queue": unique_queue.name, "submission": "later"},
    )
    assert form.status_code == 422 and "submission must be" in form.get_data(as_text=True)
    assert staged(client) == {} and unique_queue.length() == 0


def test_form_refusal_with_stage_instead_keeps_the_choice_and_stages_nothing(app, client, unique_queue):
    response = client.post(
        "/tasks/tasks.add/run",
        data={"mode": "json", "args": "[1]", "queue": unique_queue.name, "submission": "staged"},
        headers={"HX-Request": "true"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "missing a required argument" in html
    assert 'checked id="submission-1" name="submission" type="radio" value="staged"' in html
    assert staged(client) == {} and unique_queue.length() == 0
