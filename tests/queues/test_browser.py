"""In Debian chromium: page through a queue of a few hundred messages and delete one."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_page_through_a_few_hundred_messages_and_delete_one(page, celery_app, queue_name, redis_client):
    ids = [celery_app.send_task("tasks.add", args=(i, 0), queue=queue_name).id for i in range(230)]
    page.goto(f"/queues/{queue_name}")
    rows = page.locator("#queue-messages tbody tr")
    assert rows.count() == 50
    assert rows.first.get_attribute("data-task-id") == ids[0]
    expect(page.get_by_text("1–50 of 230")).to_be_visible()

    seen = []
    for start in (51, 101, 151, 201):
        seen += [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())]
        page.get_by_role("link", name="Next").click()
        expect(page.get_by_text(f"{start}–{min(start + 49, 230)} of 230")).to_be_visible()
    seen += [rows.nth(i).get_attribute("data-task-id") for i in range(rows.count())]
    assert seen == ids
    assert page.get_by_role("link", name="Next").count() == 0

    page.get_by_role("link", name="Previous").click()
    expect(page.get_by_text("151–200 of 230")).to_be_visible()
    victim = ids[160]
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row = page.locator(f'#queue-messages tr[data-task-id="{victim}"]')
    row.get_by_role("link", name="Delete").click()
    row.wait_for(state="detached")
    assert victim in dialogs[0]
    remaining = [raw for raw in redis_client.lrange(queue_name, 0, -1)]
    assert len(remaining) == 229
    assert not any(victim.encode() in raw for raw in remaining)
    assert page.console_errors == []
