"""In chromium: filter the history by state, select two failed runs and retry them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from tests.history.test_pages import add_runs
from tests.support.servers import wait_until

pytestmark = pytest.mark.browser


def test_filter_by_state_select_two_failed_runs_and_retry_them(app, page, celery_worker):
    failed = add_runs(
        app,
        {"name": "tasks.always_fails", "state": "FAILURE", "args": "[]"},
        {"name": "tasks.always_fails", "state": "FAILURE", "args": "[]"},
        {"name": "tasks.always_fails", "state": "FAILURE", "args": "[]"},
    )
    (succeeded,) = add_runs(app, {"name": "tasks.add", "args": "[1, 2]"})
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto("/history/")
    page.wait_for_function("() => window.htmx !== undefined")
    assert page.locator(f'tr[data-task-id="{succeeded}"]').is_visible()

    page.locator("form.history-filters select[name=state]").select_option("FAILURE")
    page.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_url("**/history/?*state=FAILURE*")
    assert page.locator(f'tr[data-task-id="{succeeded}"]').count() == 0
    assert page.locator("tr.run-row").count() == 3

    chosen = failed[:2]
    for task_id in chosen:
        page.get_by_label(f"Select run {task_id}").check()
    page.get_by_role("button", name="Retry selected").click()
    page.get_by_text("Retried 2 runs").wait_for()

    def retries() -> dict[str, str]:
        with app.app_context():
            rows = db.session.query(TaskRun).filter(TaskRun.retry_of.is_not(None)).all()
            return {row.retry_of: row.origin for row in rows}

    assert wait_until(lambda: retries(), timeout=10, what="retry runs") == {t: "operator" for t in chosen}
    page.goto(f"/history/runs/{chosen[0]}")
    page.locator("a.retried-as").click()
    page.wait_for_url("**/history/runs/*")
    assert page.locator("a.retry-of").inner_text() == chosen[0]
    assert page.console_errors == []


def test_a_new_run_appears_at_the_top_of_the_open_history_page_and_finishes_in_place(app, page, live_server):
    add_runs(app, {"name": "tasks.add"})
    page.context.add_cookies([{"name": "td_poll_history", "value": "2", "url": live_server.url}])
    page.goto("/history/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.drawnOnce = true; }")  # gone if the page were loaded again
    (new,) = add_runs(app, {"name": "tasks.echo", "state": "STARTED"})
    row = page.locator(f'#history-rows tr.run-row[data-task-id="{new}"]')
    expect(row).to_be_visible(timeout=15_000)
    assert page.locator("#history-rows tr.run-row").first.get_attribute("data-task-id") == new
    expect(row.locator(".state-badge")).to_have_text("STARTED")
    # The same poll brings the unfinished row back as it is now: it finishes in place.
    add_runs(app, {"id": new, "name": "tasks.echo"})
    expect(row.locator(".state-badge")).to_have_text("SUCCESS", timeout=15_000)
    expect(page.locator("#history-rows input[name=live]")).to_have_count(0)  # out of the poll
    assert page.locator(f'tr[data-task-id="{new}"]').count() == 1
    assert page.evaluate("() => window.drawnOnce") is True
    assert page.console_errors == []
