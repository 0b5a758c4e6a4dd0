"""The registry lists what the app has and what live workers report, and filters it."""

import pytest

from dashboard.registry import catalogue

pytestmark = pytest.mark.worker


def worker_registered(celery_app, hostname: str) -> set[str]:
    replies = celery_app.control.inspect(destination=[hostname], timeout=2).registered()
    return set(replies[hostname])


def test_list_matches_app_tasks_and_the_workers_registered_set(client, celery_app, celery_worker):
    body = client.get("/api/v1/tasks?internal=1").get_json()
    listed = {task["name"]: task for task in body["tasks"]}
    on_worker = worker_registered(celery_app, celery_worker.hostname)

    assert set(listed) == set(celery_app.tasks.keys()) | on_worker
    assert celery_worker.hostname in body["workers"]
    for name, task in listed.items():
        assert (celery_worker.hostname in task["workers"]) == (name in on_worker), name
        assert task["in_app"] == (name in celery_app.tasks)


def test_celery_internals_are_hidden_unless_asked_for(client, celery_worker):
    names = {task["name"] for task in client.get("/api/v1/tasks").get_json()["tasks"]}
    assert "tasks.add" in names
    assert not any(name.startswith("celery.") for name in names)
    with_internal = {t["name"] for t in client.get("/api/v1/tasks?internal=1").get_json()["tasks"]}
    assert "celery.chord_unlock" in with_internal

    html = client.get("/tasks/").get_data(as_text=True)
    assert "celery.chord_unlock" not in html
    assert "celery.chord_unlock" in client.get("/tasks/?internal=1").get_data(as_text=True)


def test_each_task_shows_summary_signature_routing_and_limits(client, celery_worker):
    tasks = {t["name"]: t for t in client.get("/api/v1/tasks").get_json()["tasks"]}
    add = tasks["tasks.add"]
    assert add["summary"] == "Add two numbers."
    assert add["signature"] == "(x: int, y: int)"
    assert [(p["name"], p["annotation"], p["required"]) for p in add["parameters"]] == [
        ("x", "int", True),
        ("y", "int", True),
    ]
    report = tasks["tasks.send_daily_report"]
    assert report["queue"] == "reports"  # from task_routes
    assert report["parameters"][0]["default"] == '"ops@example.com"'
    assert tasks["tasks.add"]["queue"] == "celery"  # task_default_queue
    assert tasks["tasks.flaky"]["max_retries"] == 5  # from retry_kwargs
    assert tasks["tasks.long_task"]["signature"] == "(steps: int = 10, step_seconds: float = 0.5)"

    html = client.get("/tasks/").get_data(as_text=True)
    assert "(x: int, y: int)" in html and "Add two numbers." in html
    assert celery_worker.hostname in html


def test_search_filters_by_name_or_summary_as_a_plain_get(client, celery_worker):
    html = client.get("/tasks/?q=report").get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    assert 'data-task="tasks.send_daily_report"' in html
    assert 'data-task="tasks.add"' not in html
    # "numbers" only appears in the summary of tasks.add
    html = client.get("/tasks/?q=NUMBERS").get_data(as_text=True)
    assert 'data-task="tasks.add"' in html and 'data-task="tasks.flaky"' not in html
    assert client.get("/api/v1/tasks?q=flaky").get_json()["tasks"][0]["name"] == "tasks.flaky"


def test_active_search_gets_only_the_results_fragment(client, celery_worker):
    page = client.get("/tasks/").get_data(as_text=True)
    assert 'hx-trigger="input changed delay:300ms, search"' in page
    assert 'method="get"' in page  # works with JavaScript off
    response = client.get("/tasks/?q=cleanup", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="registry-content"')
    assert 'data-task="tasks.cleanup_expired_data"' in html and 'data-task="tasks.add"' not in html
    assert "HX-Request" in response.headers["Vary"]


def test_task_only_a_worker_has_and_task_only_the_app_has_are_flagged(
    client, celery_app, celery_worker, start_worker, make_queue
):
    other = start_worker(
        make_queue("registry-other").name, app="tests.registry.worker_only_app:app", name="other"
    )

    def only_in_app():
        """Exists only in the dashboard's app."""

    celery_app.task(name="registry_tests.only_in_app")(only_in_app)
    try:
        tasks = {t["name"]: t for t in client.get("/api/v1/tasks").get_json()["tasks"]}
        only_worker = tasks["registry_tests.only_on_worker"]
        assert only_worker["worker_only"] and not only_worker["in_app"]
        assert only_worker["workers"] == [other.hostname]
        assert tasks["registry_tests.only_in_app"]["app_only"]
        assert tasks["registry_tests.only_in_app"]["workers"] == []
        assert not tasks["tasks.add"]["app_only"] and not tasks["tasks.add"]["worker_only"]

        html = client.get("/tasks/").get_data(as_text=True)
        row = html.split('data-task="registry_tests.only_on_worker"', 1)[1].split("</tr>", 1)[0]
        assert "worker only" in row
        row = html.split('data-task="registry_tests.only_in_app"', 1)[1].split("</tr>", 1)[0]
        assert "no worker" in row

        detail = client.get("/tasks/registry_tests.only_on_worker").get_data(as_text=True)
        assert "cannot be run from here" in detail and 'class="run-form"' not in detail
    finally:
        celery_app.tasks.pop("registry_tests.only_in_app", None)


def test_no_flags_and_a_clear_notice_when_no_worker_answers(app, celery_app):
    # A report from a broadcast nobody answered: nothing is claimed missing from workers.
    tasks = catalogue.list_tasks(celery_app, catalogue.WorkerReport())
    assert tasks and not any(t.app_only or t.worker_only for t in tasks)


def test_task_detail_uses_a_path_for_dotted_names(client, celery_worker):
    html = client.get("/tasks/tasks.send_daily_report").get_data(as_text=True)
    assert "Build the daily report" in html
    assert 'class="run-form"' in html
    assert client.get("/tasks/tasks.nope").status_code == 404
    body = client.get("/api/v1/tasks/tasks.send_daily_report").get_json()
    assert body["queue"] == "reports"
    assert {"celery", "reports"} <= set(body["queues"])
    missing = client.get("/api/v1/tasks/tasks.nope")
    assert missing.status_code == 404 and missing.get_json()["field"] == "task"
