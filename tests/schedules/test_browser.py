"""In Debian chromium: create a cron schedule with a live preview, enable it, watch it fire."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_create_cron_schedule_preview_enable_and_see_it_fire(
    page, live_server, start_beat, celery_worker, recorder
):
    page.context.add_cookies([{"name": "td_poll_schedules", "value": "2", "url": live_server.url}])
    start_beat()
    page.goto("/schedules/")
    page.get_by_role("link", name="New schedule").click()
    page.wait_for_url("**/schedules/new")
    page.get_by_label("Name", exact=True).fill("every other second")
    page.get_by_label("Task", exact=True).fill("tasks.add")
    page.get_by_label("Cron", exact=True).check()
    assert page.get_by_label("Every", exact=True).is_hidden()  # interval fields hide for a cron schedule
    page.get_by_label("Cron expression", exact=True).fill("*/2 * * * * *")
    preview = page.locator("#schedule-preview")
    preview.get_by_text("Every 2 seconds").wait_for()
    assert preview.locator("tbody tr").count() == 5
    page.get_by_label("Cron expression", exact=True).fill("*/2 * * *")
    preview.get_by_text("5 fields").wait_for()
    page.get_by_label("Cron expression", exact=True).fill("*/2 * * * * *")
    preview.get_by_text("Every 2 seconds").wait_for()
    page.get_by_label("Positional arguments (JSON list)").fill("[20, 22]")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/schedules/")
    row = page.locator("tr[data-schedule='every other second']")
    row.get_by_text("never").wait_for()
    row.get_by_role("button", name="Enable every other second").click()
    row.get_by_role("button", name="Disable every other second").wait_for()
    # The list polls: the run beat fires appears with a link to its history page.
    link = row.locator("a.schedule-last-task")
    link.wait_for(timeout=30_000)
    href = link.get_attribute("href")
    assert "/history/runs/" in href
    page.goto(href)
    assert page.console_errors == []
