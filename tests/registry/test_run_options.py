"""Each run option yields the broker message Celery's own send_task would, and the task runs."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboard.core.runs import TaskRun
from dashboard.portal.models import AuditEntry

pytestmark = pytest.mark.worker

# Headers and properties that differ between any two messages (ids, tags), or name the queue.
VOLATILE_HEADERS = {"id", "root_id"}
VOLATILE_PROPERTIES = {"correlation_id", "delivery_tag", "delivery_info"}


@pytest.fixture(autouse=True)
def quick_inspect(app):
    """These tests never need workers' answers: do not wait a full second for them on every page."""
    app.config["INSPECT_TIMEOUT"] = 0.2


def _future(seconds: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def reference_message(celery_app, queue, **options):
    """What Celery itself puts on the broker for ``tasks.add(2, 3)`` with ``options``."""
    celery_app.send_task("tasks.add", args=[2, 3], queue=queue.name, **options)
    return queue.only_message()


def comparable(key: str, message: dict, queue_name: str) -> dict:
    headers = {k: v for k, v in message["headers"].items() if k not in VOLATILE_HEADERS}
    for timed in ("eta", "expires"):
        headers[timed] = _instant(headers.get(timed))
    properties = {k: v for k, v in message["properties"].items() if k not in VOLATILE_PROPERTIES}
    # A TTL in milliseconds computed at send time from ``expires``: only its presence is stable.
    properties["expiration"] = "expiration" in properties
    return {
        "list": key.replace(queue_name, "<queue>"),
        "headers": headers,
        "properties": properties,
        "routing_key": message["properties"]["delivery_info"]["routing_key"].replace(queue_name, "<queue>"),
        "body": message["decoded_body"],
    }


# (API options, the same options as Celery's send_task takes them)
EXACT_CASES = {
    "queue only": ({}, {}),
    "priority 0": ({"priority": 0}, {"priority": 0}),
    "priority 5 (list step 3)": ({"priority": 5}, {"priority": 5}),
    "priority 9 (list step 9)": ({"priority": 9}, {"priority": 9}),
    "eta in the operator's zone": (
        {"eta": "2099-03-01T10:30:00", "timezone": "Europe/Paris"},
        {"eta": datetime(2099, 3, 1, 10, 30, tzinfo=ZoneInfo("Europe/Paris"))},
    ),
    "eta with an offset": (
        {"eta": "2099-03-01T10:30:00+05:30"},
        {"eta": datetime(2099, 3, 1, 5, 0, tzinfo=UTC)},
    ),
    "expires at a date-time": (
        {"expires": "2099-01-01T00:00:00Z"},
        {"expires": datetime(2099, 1, 1, tzinfo=UTC)},
    ),
    "eta, expires, priority together": (
        {"eta": "2099-03-01T10:30:00Z", "expires": "2099-03-02T00:00:00Z", "priority": 7},
        {
            "eta": datetime(2099, 3, 1, 10, 30, tzinfo=UTC),
            "expires": datetime(2099, 3, 2, tzinfo=UTC),
            "priority": 7,
        },
    ),
}


@pytest.mark.parametrize("case", list(EXACT_CASES))
def test_run_option_produces_the_message_celery_would(client, celery_app, make_queue, case):
    ours, theirs = make_queue(), make_queue()
    api_options, celery_options = EXACT_CASES[case]

    response = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": [2, 3], "queue": ours.name, **api_options}
    )
    assert response.status_code == 202, response.get_json()
    task_id = response.get_json()["task_id"]

    key, message = ours.only_message()
    assert message["headers"]["id"] == task_id
    assert message["headers"]["task"] == "tasks.add"
    ref_key, reference = reference_message(celery_app, theirs, **celery_options)
    assert comparable(key, message, ours.name) == comparable(ref_key, reference, theirs.name)


def test_priority_lands_in_the_priority_list_kombu_serves(client, unique_queue):
    client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": [1, 1], "queue": unique_queue.name, "priority": 4}
    )
    key, message = unique_queue.only_message()
    assert key == unique_queue.name + "\x06\x16" + "3"
    assert message["properties"]["priority"] == 4


@pytest.mark.parametrize("relative", ["countdown", "expires"])
def test_relative_times_become_absolute_headers(client, unique_queue, relative):
    before = datetime.now(UTC)
    response = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": [1, 2], "queue": unique_queue.name, relative: 120}
    )
    after = datetime.now(UTC)
    assert response.status_code == 202
    _, message = unique_queue.only_message()
    header = "eta" if relative == "countdown" else "expires"
    moment = _instant(message["headers"][header])
    assert before + timedelta(seconds=120) <= moment <= after + timedelta(seconds=120)


def test_every_option_runs_on_a_worker_started_on_the_queue(client, celery_app, unique_queue, start_worker):
    variants = [
        {},
        {"priority": 0},
        {"priority": 9},
        {"countdown": 1},
        {
            "eta": _future(2).astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%dT%H:%M:%S"),
            "timezone": "Asia/Tokyo",
        },
        {"eta": (datetime.now(UTC) - timedelta(seconds=30)).isoformat()},  # within the grace: runs at once
        {"expires": 300},
    ]
    sent = {}
    for n, options in enumerate(variants):
        response = client.post(
            "/api/v1/tasks/tasks.add/run", json={"args": [n, 100], "queue": unique_queue.name, **options}
        )
        assert response.status_code == 202, (options, response.get_json())
        sent[response.get_json()["task_id"]] = n + 100
    assert unique_queue.length() == len(variants)  # nobody consumes the queue yet

    start_worker(unique_queue.name)
    for task_id, expected in sent.items():
        result = celery_app.AsyncResult(task_id)
        assert result.get(timeout=60) == expected
        assert result.queue == unique_queue.name
    assert unique_queue.length() == 0


def test_form_run_with_eta_in_a_zone_priority_queue_and_expiry(app, client, celery_app, unique_queue):
    eta_local = _future(3600).astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
    response = client.post(
        "/tasks/tasks.add/run",
        data={
            "mode": "json",
            "args": "[2, 3]",
            "kwargs": "{}",
            "when": "eta",
            "eta": eta_local.strftime("%Y-%m-%dT%H:%M:%S"),
            "timezone": "America/New_York",
            "queue": unique_queue.name,
            "priority": "7",
            "expires": "7200",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    key, message = unique_queue.only_message()
    assert key == unique_queue.name + "\x06\x16" + "6"
    assert message["properties"]["priority"] == 7
    assert _instant(message["headers"]["eta"]) == eta_local.replace(tzinfo=ZoneInfo("America/New_York"))
    assert message["headers"]["expires"] is not None
    task_id = message["headers"]["id"]
    assert task_id in html
    # Shown back in the operator's zone, and remembered for the next form.
    assert eta_local.strftime("%Y-%m-%d %H:%M:%S") in html and ("EST" in html or "EDT" in html)
    assert "td_tz=America/New_York" in response.headers["Set-Cookie"]
    assert '<option selected value="America/New_York">' in client.get("/tasks/tasks.add").get_data(
        as_text=True
    )


def test_form_run_on_default_routes_runs_on_the_session_worker(app, client, celery_app, celery_worker):
    response = client.post(
        "/tasks/tasks.add/run", data={"mode": "fields", "p__x": "20", "p__y": "22", "when": "now"}
    )
    assert response.status_code == 200
    with app.app_context():
        run = TaskRun.query.filter_by(name="tasks.add").one()
        assert (run.origin, run.args, run.kwargs, run.queue) == (
            "operator",
            "[]",
            '{"x": 20, "y": 22}',
            "celery",
        )
        audit = AuditEntry.query.filter_by(action="task.run").one()
        assert audit.result == "200" and audit.target == "name=tasks.add"
    result = celery_app.AsyncResult(run.task_id)
    assert result.get(timeout=30) == 42

    routed = client.post("/api/v1/tasks/tasks.send_daily_report/run", json={"params": {"recipient": "x@y.z"}})
    result = celery_app.AsyncResult(routed.get_json()["task_id"])
    assert result.get(timeout=30)["recipient"] == "x@y.z"
    assert result.queue == "reports"  # task_routes decided

    chosen = client.post("/api/v1/tasks/tasks.add/run", json={"args": [1, 2], "queue": "reports"})
    result = celery_app.AsyncResult(chosen.get_json()["task_id"])
    assert result.get(timeout=30) == 3 and result.queue == "reports"


def test_run_result_links_history_and_flower_and_polls_until_ready(app, client, celery_app, celery_worker):
    app.config["FLOWER_URL"] = "http://flower.example:5555"
    html = client.post(
        "/tasks/tasks.add/run", data={"mode": "json", "args": "[1, 2]", "kwargs": "{}", "when": "now"}
    ).get_data(as_text=True)
    with app.app_context():
        task_id = TaskRun.query.one().task_id
    assert f'href="/history/runs/{task_id}"' in html
    assert f'href="http://flower.example:5555/task/{task_id}"' in html

    celery_app.AsyncResult(task_id).get(timeout=30)
    state = client.get(f"/tasks/-/runs/{task_id}/state", headers={"HX-Request": "true"})
    assert state.status_code == 286  # htmx stops polling
    fragment = state.get_data(as_text=True)
    assert "SUCCESS" in fragment and ">3</pre>" in fragment and "hx-trigger" not in fragment

    api = client.post("/api/v1/tasks/tasks.add/run", json={"args": [1, 2]}).get_json()
    assert api["links"]["flower"] == f"http://flower.example:5555/task/{api['task_id']}"
    assert api["links"]["history"] == f"/history/runs/{api['task_id']}"


def test_pending_state_keeps_polling_every_second(client, unique_queue):
    task_id = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": [1, 2], "queue": unique_queue.name}
    ).get_json()["task_id"]
    state = client.get(f"/tasks/-/runs/{task_id}/state", headers={"HX-Request": "true"})
    assert state.status_code == 200
    html = state.get_data(as_text=True)
    assert "PENDING" in html and 'hx-trigger="every 1s"' in html
    assert state.headers["Cache-Control"] == "no-store"


def test_results_are_escaped_and_truncated(client, celery_app, celery_worker):
    task_id = client.post(
        "/api/v1/tasks/tasks.add/run", json={"args": ["<script>alert(1)</script>", "x" * 5000]}
    ).get_json()["task_id"]
    celery_app.AsyncResult(task_id).get(timeout=30)
    html = client.get(f"/tasks/-/runs/{task_id}/state").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "x" * 5000 not in html and "cut for display" in html
