"""In Debian chromium: run a task from its form and watch the result arrive; search the list."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_run_add_from_the_form_and_see_success_with_the_result(page, celery_worker):
    page.goto("/tasks/tasks.add")
    page.get_by_label("x: int").fill("2")
    page.get_by_label("y: int").fill("3")
    page.get_by_role("button", name="Run tasks.add").click()

    expect(page.locator(".run-sent .task-id")).to_be_visible()
    expect(page.locator(".run-state .state")).to_have_text("SUCCESS", timeout=30_000)
    expect(page.locator(".run-state .run-result")).to_have_text("5")
    task_id = page.locator(".run-sent .task-id").inner_text()
    assert page.get_by_role("link", name="history entry").get_attribute("href") == f"/history/runs/{task_id}"
    assert page.console_errors == []


def test_refused_run_shows_the_reason_next_to_the_field(page, celery_worker):
    page.goto("/tasks/tasks.add")
    page.get_by_label("x: int").fill("2")
    page.get_by_label("y: int").fill("three")
    page.get_by_role("button", name="Run tasks.add").click()
    expect(page.locator("#p__y ~ .field-error")).to_contain_text("not valid JSON")
    expect(page.locator(".run-sent")).to_have_count(0)
    # 4xx responses are expected here; only script errors would count.
    assert [e for e in page.console_errors if "status of 422" not in e] == []


def test_active_search_filters_the_list_as_you_type(page, celery_worker):
    page.goto("/tasks/")
    expect(page.locator('tr[data-task="tasks.add"]')).to_be_visible()
    page.get_by_label("Search").press_sequentially("daily")
    expect(page.locator('tr[data-task="tasks.add"]')).to_have_count(0)
    expect(page.locator('tr[data-task="tasks.send_daily_report"]')).to_be_visible()
    page.wait_for_url("**/tasks/?q=daily*")
    assert page.console_errors == []


def test_stage_instead_puts_the_run_in_the_staging_list(page):
    page.goto("/tasks/tasks.add")
    page.get_by_label("x: int").fill("20")
    page.get_by_label("y: int").fill("22")
    page.get_by_label("Put in the staging list instead").check()
    page.get_by_label("Note (kept with a staged run)").fill("after the backup")
    page.get_by_role("button", name="Run tasks.add").click()

    expect(page.locator(".run-staged .task-id")).to_be_visible()
    item_id = page.locator(".run-staged .task-id").inner_text()
    expect(page.locator(".run-state")).to_have_count(0)
    page.get_by_role("link", name="in the staging list").click()
    page.wait_for_url("**/staging/")
    row = page.locator(f'[data-id="{item_id}"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("tasks.add")
    expect(row).to_contain_text("after the backup")
    assert page.console_errors == []
