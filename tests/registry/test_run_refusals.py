"""Bad run requests are refused with the reason, naming the field, and nothing reaches the broker."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.core.runs import TaskRun
from dashboard.portal.models import AuditEntry

from .conftest import broker_lists


@pytest.fixture(autouse=True)
def quick_inspect(app):
    """These tests never need workers' answers: do not wait a full second for them on every page."""
    app.config["INSPECT_TIMEOUT"] = 0.2


def _ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


# name: (task, JSON body without the queue, status, field, words in the message)
API_CASES = {
    "unknown task": ("tasks.nope", {"args": []}, 404, "task", "unknown task 'tasks.nope'"),
    "missing argument": ("tasks.add", {"args": [1]}, 422, "args", "missing a required argument: 'y'"),
    "unexpected keyword": (
        "tasks.add",
        {"args": [1, 2], "kwargs": {"z": 3}},
        422,
        "args",
        "unexpected keyword argument 'z'",
    ),
    "too many positional": ("tasks.add", {"args": [1, 2, 3]}, 422, "args", "too many positional arguments"),
    "args not a list": ("tasks.add", {"args": {"x": 1}}, 422, "args", "must be a JSON list"),
    "malformed args text": ("tasks.add", {"args": "[1, 2"}, 422, "args", "not valid JSON"),
    "malformed kwargs text": ("tasks.add", {"kwargs": "{x: 1}"}, 422, "kwargs", "not valid JSON"),
    "unknown parameter": (
        "tasks.add",
        {"params": {"x": 1, "y": 2, "z": 3}},
        422,
        "params.z",
        "no parameter 'z'",
    ),
    "params not an object": ("tasks.add", {"params": [1, 2]}, 422, "params", "must be an object"),
    "params and args together": ("tasks.add", {"params": {"x": 1}, "args": [2]}, 422, "args", "not both"),
    "eta in the past": ("tasks.add", {"args": [1, 2], "eta": _ago(600)}, 422, "eta", "in the past"),
    "eta not a date": ("tasks.add", {"args": [1, 2], "eta": "tomorrow"}, 422, "eta", "not an ISO 8601"),
    "negative countdown": (
        "tasks.add",
        {"args": [1, 2], "countdown": -5},
        422,
        "countdown",
        "must not be negative",
    ),
    "countdown not a number": (
        "tasks.add",
        {"args": [1, 2], "countdown": "soon"},
        422,
        "countdown",
        "number",
    ),
    "countdown and eta": (
        "tasks.add",
        {"args": [1, 2], "countdown": 5, "eta": "2099-01-01T00:00:00Z"},
        422,
        "countdown",
        "not both",
    ),
    "priority above 9": ("tasks.add", {"args": [1, 2], "priority": 10}, 422, "priority", "from 0 to 9"),
    "negative priority": ("tasks.add", {"args": [1, 2], "priority": -1}, 422, "priority", "from 0 to 9"),
    "priority not a number": ("tasks.add", {"args": [1, 2], "priority": "high"}, 422, "priority", "0 to 9"),
    "priority a boolean": ("tasks.add", {"args": [1, 2], "priority": True}, 422, "priority", "0 to 9"),
    "expired already": ("tasks.add", {"args": [1, 2], "expires": -1}, 422, "expires", "later than now"),
    "expires before eta": (
        "tasks.add",
        {"args": [1, 2], "countdown": 600, "expires": 60},
        422,
        "expires",
        "later than now and than the ETA",
    ),
    "unknown time zone": (
        "tasks.add",
        {"args": [1, 2], "eta": "2099-01-01T00:00:00", "timezone": "Mars/Olympus"},
        422,
        "timezone",
        "unknown time zone",
    ),
}


def assert_nothing_sent(app, queue_name: str, redis_client) -> None:
    assert sum(redis_client.llen(key) for key in broker_lists(queue_name)) == 0
    with app.app_context():
        assert TaskRun.query.count() == 0


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_refuses_bad_input_naming_the_field(app, client, redis_client, unique_queue, case):
    task, body, status, field, words = API_CASES[case]
    response = client.post(f"/api/v1/tasks/{task}/run", json={**body, "queue": unique_queue.name})
    assert response.status_code == status, response.get_json()
    error = response.get_json()
    assert error["field"] == field
    assert words in error["error"]
    assert_nothing_sent(app, unique_queue.name, redis_client)
    with app.app_context():
        assert AuditEntry.query.filter_by(action="task.run").one().result == f"refused {status}"


def test_api_refuses_an_unknown_queue(app, client, redis_client):
    response = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": [1, 2], "queue": "no-such-queue-here"}
    )
    assert response.status_code == 422
    assert response.get_json()["field"] == "queue"
    assert "unknown queue 'no-such-queue-here'" in response.get_json()["error"]
    assert_nothing_sent(app, "no-such-queue-here", redis_client)


def test_api_refuses_a_payload_over_the_limit(app, client, redis_client, unique_queue):
    app.config["MAX_PAYLOAD_BYTES"] = 200
    response = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": ["x" * 300, "y"], "queue": unique_queue.name}
    )
    assert response.status_code == 422
    assert (
        response.get_json()["field"] == "args" and "over the 200-byte limit" in response.get_json()["error"]
    )
    just_under = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": ["x" * 100, "y"], "queue": unique_queue.name}
    )
    assert just_under.status_code == 202
    assert unique_queue.length() == 1


def test_api_refuses_nan_and_a_body_that_is_not_json(app, client, redis_client, unique_queue):
    raw = '{"args": [NaN, 1], "queue": ' + json.dumps(unique_queue.name) + "}"
    response = client.post("/api/v1/tasks/tasks.add/run", data=raw, content_type="application/json")
    assert response.status_code == 422 and response.get_json()["field"] == "args"
    response = client.post("/api/v1/tasks/tasks.add/run", data="[1, 2", content_type="application/json")
    assert response.status_code == 400
    response = client.post("/api/v1/tasks/tasks.add/run", data=json.dumps({"args": [1, 2]}))
    assert response.status_code == 415  # not declared as JSON
    assert_nothing_sent(app, unique_queue.name, redis_client)


# name: (form fields, status, id of the field the message sits next to, words)
FORM_CASES = {
    "malformed parameter": ({"mode": "fields", "p__x": "one", "p__y": "2"}, 422, "p__x", "not valid JSON"),
    "missing parameter": (
        {"mode": "fields", "p__x": "1", "p__y": ""},
        422,
        "params",
        "missing a required argument",
    ),
    "malformed raw kwargs": (
        {"mode": "json", "args": "[1, 2]", "kwargs": "{"},
        422,
        "kwargs",
        "not valid JSON",
    ),
    "negative countdown": (
        {"mode": "json", "args": "[1, 2]", "when": "countdown", "countdown": "-1"},
        422,
        "countdown",
        "negative",
    ),
    "countdown left blank": (
        {"mode": "json", "args": "[1, 2]", "when": "countdown"},
        422,
        "countdown",
        "give the countdown",
    ),
    "eta in the past": (
        {
            "mode": "json",
            "args": "[1, 2]",
            "when": "eta",
            "eta": "2001-01-01T00:00",
            "timezone": "Europe/Berlin",
        },
        422,
        "eta",
        "2001-01-01 00:00:00 CET is in the past",
    ),
    "priority out of range": (
        {"mode": "json", "args": "[1, 2]", "priority": "12"},
        422,
        "priority",
        "from 0 to 9",
    ),
}


@pytest.mark.parametrize("case", list(FORM_CASES))
def test_form_shows_the_reason_next_to_the_field_and_sends_nothing(
    app, client, redis_client, unique_queue, case
):
    fields, status, field_id, words = FORM_CASES[case]
    data = {"when": "now", "timezone": "UTC", "priority": "", "queue": unique_queue.name, **fields}
    response = client.post("/tasks/tasks.add/run", data=data, headers={"HX-Request": "true"})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="run-panel"')
    if field_id == "params":
        block = html.split('<fieldset class="params">', 1)[1].split('<div class="field">', 1)[0]
    else:
        block = html.split(f'id="{field_id}"', 1)[1].split("</div>", 1)[0]
    assert words in block.replace("&#39;", "'")
    assert_nothing_sent(app, unique_queue.name, redis_client)


def test_form_refuses_an_unknown_queue_and_task(app, client, redis_client):
    response = client.post(
        "/tasks/tasks.add/run", data={"mode": "json", "args": "[1, 2]", "queue": "nope-queue"}
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "unknown queue" in html.split('id="queue"', 1)[1].split("</div>", 1)[0]
    assert client.post("/tasks/tasks.nope/run", data={"mode": "json"}).status_code == 404
    assert_nothing_sent(app, "nope-queue", redis_client)


def test_form_without_csrf_token_is_refused(app, raw_client, redis_client, unique_queue):
    response = raw_client.post(
        "/tasks/tasks.add/run", data={"mode": "json", "args": "[1, 2]", "queue": unique_queue.name}
    )
    assert response.status_code == 400
    assert_nothing_sent(app, unique_queue.name, redis_client)


def test_get_never_runs_anything(client):
    assert client.get("/tasks/tasks.add/run").status_code == 404
    assert client.get("/api/v1/tasks/tasks.add/run").status_code == 404
