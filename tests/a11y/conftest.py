"""Accessibility fixtures: real data behind the detail pages, and axe-core injected same-origin."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.history.test_pages import add_runs
from tests.i18n.conftest import compiled_catalogue, zh_catalogue  # noqa: F401 - fixtures for the language walk
from tests.staging.conftest import order, stage  # noqa: F401 - staged items for the keyboard and poll tests
from tests.support.pages import page_rules
from tests.support.servers import wait_until

THEMES = (
    # (label, prefers-color-scheme, data-theme set by the toggle or None)
    ("light", "light", None),
    ("dark", "dark", None),
    ("toggle-dark", "light", "dark"),
    ("toggle-light", "dark", "light"),
)
SERIOUS = ("serious", "critical")


def listed_pages(app, client) -> list[str]:
    """Every argument-free GET route of the dashboard that renders a whole HTML page."""
    paths = []
    for rule in page_rules(app):
        response = client.get(rule.rule)
        kind = response.headers.get("Content-Type", "")
        if "attachment" in response.headers.get("Content-Disposition", "") or not kind.startswith(
            "text/html"
        ):
            continue  # downloads
        if b"<html" not in response.data[:400]:
            continue  # an HTMX fragment, not a page
        paths.append(rule.rule)
    return sorted(paths)


@pytest.fixture
def detail_pages(app, client, celery_app, celery_worker, redis_client, stage):  # noqa: F811 - the fixture
    """Paths of the main detail pages, each backed by real data."""
    queue = f"tdq-a11y-{uuid.uuid4().hex[:8]}"
    for x in range(3):
        celery_app.send_task("tasks.add", args=(x, 1), queue=queue)
    staged = stage(3)
    created = client.post(
        "/api/v1/schedules",
        json={
            "name": "nightly report",
            "task": "tasks.add",
            "kind": "cron",
            "cron": "0 3 * * *",
            "args": [1, 2],
        },
    )
    assert created.status_code in (200, 201), created.data
    schedule_id = created.json["id"]
    succeeded, failed = add_runs(
        app,
        {"name": "tasks.add", "args": "[1, 2]"},
        {"name": "tasks.always_fails", "state": "FAILURE", "args": "[]"},
    )
    wait_until(
        lambda: celery_app.control.inspect(destination=[celery_worker.hostname], timeout=1).registered(),
        timeout=30,
        what="the worker's registered tasks",
    )
    yield [
        "/tasks/tasks.add",
        f"/queues/{queue}",
        f"/queues/{queue}/purge",
        f"/staging/{staged[0]}/edit",
        "/staging/",
        f"/schedules/{schedule_id}/edit",
        "/schedules/new",
        f"/history/runs/{succeeded}",
        f"/history/runs/{failed}",
        f"/workers/{celery_worker.hostname}",
        f"/workers/{celery_worker.hostname}/confirm/shutdown",
        "/history/?state=FAILURE",
    ]
    redis_client.delete(queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9)))


def run_axe(page, axe_url: str) -> list[dict]:
    """Run axe-core on the current document; returns the serious and critical violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=axe_url)
        page.wait_for_function("() => typeof window.axe !== 'undefined'")
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [v for v in violations if v.get("impact") in SERIOUS]


def describe(path: str, theme: str, violations: list[dict]) -> str:
    lines = [f"{path} [{theme}]"]
    for violation in violations:
        lines.append(f"  {violation['impact']}: {violation['id']} - {violation['help']}")
        for node in violation["nodes"][:6]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {json.dumps(node['target'])}: {summary[:300]}")
        if len(violation["nodes"]) > 6:
            lines.append(f"    ... and {len(violation['nodes']) - 6} more")
    return "\n".join(lines)
