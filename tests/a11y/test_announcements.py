"""Polls that change what a region says are read out politely through one status region."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.history.test_pages import add_runs

pytestmark = pytest.mark.browser
POLL_DEADLINE = 15_000  # ms: a few 2-second polls, on a busy machine


def poll_every_two_seconds(page, live_server, key: str) -> None:
    page.context.add_cookies([{"name": f"td_poll_{key}", "value": "2", "url": live_server.url}])


def test_the_announcer_is_a_polite_status_region_outside_the_polled_content(page):
    page.goto("/staging/")
    announcer = page.locator("#poll-announcer")
    expect(announcer).to_have_attribute("role", "status")
    expect(announcer).to_have_attribute("aria-live", "polite")
    assert page.evaluate(
        "document.getElementById('poll-announcer').closest('[data-poll-key], main') === null"
    )
    expect(announcer).to_have_text("")  # nothing is said on load


def test_a_poll_that_changes_the_staged_count_is_announced(page, live_server, stage):
    stage(1)  # this test's key prefix starts with an empty staging list
    poll_every_two_seconds(page, live_server, "staging")
    page.goto("/staging/")
    expect(page.get_by_test_id("staging-count")).to_have_text("1")
    stage(2)
    expect(page.locator("#poll-announcer")).to_have_text("3 staged", timeout=POLL_DEADLINE)


def test_a_run_that_finishes_is_announced_with_its_state(app, page, live_server):
    (task_id,) = add_runs(app, {"state": "STARTED"})
    poll_every_two_seconds(page, live_server, "history")
    page.goto("/history/")
    row = page.locator(f"tr[data-task-id='{task_id}']")
    expect(row).to_contain_text("STARTED")
    add_runs(app, {"id": task_id, "state": "SUCCESS"})
    expect(page.locator("#poll-announcer")).to_have_text(f"Run {task_id[:8]}: SUCCESS", timeout=POLL_DEADLINE)
    expect(row).to_contain_text("SUCCESS")


def test_announcements_follow_the_language(app, page, live_server):
    (task_id,) = add_runs(app, {"state": "STARTED"})
    poll_every_two_seconds(page, live_server, "history")
    page.goto("/history/?lang=zh_CN")
    expect(page.locator(f"tr[data-task-id='{task_id}']")).to_contain_text("STARTED")
    add_runs(app, {"id": task_id, "state": "FAILURE"})
    expect(page.locator("#poll-announcer")).to_have_text(
        f"运行 {task_id[:8]}：FAILURE", timeout=POLL_DEADLINE
    )
