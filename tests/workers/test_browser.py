"""In chromium: pause and resume a queue on a worker, and grow its pool, from the worker's page."""

import pytest

from tests.workers.helpers import consumed, control, process_count

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_pause_and_resume_a_queue_then_grow_the_pool(page, live_server, client, celery_app, two_workers):
    alpha = two_workers[0]
    page.context.add_cookies([{"name": "td_poll_worker", "value": "2", "url": live_server.url}])
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"/workers/{alpha.hostname}")
    queues = page.locator("#section-active_queues")
    row = queues.locator(f'tr[data-queue="{alpha.queue}"]')

    row.get_by_role("button", name="Pause").click()
    page.locator("#control-result").get_by_text("no longer consuming from").wait_for()
    row.locator(".badge", has_text="paused").wait_for(timeout=20_000)
    assert alpha.queue not in consumed(celery_app, alpha.hostname)

    row.get_by_role("button", name="Resume").click()
    page.locator("#control-result").get_by_text(f"add consumer {alpha.queue}").wait_for()
    row.get_by_role("button", name="Pause").wait_for(timeout=20_000)
    assert alpha.queue in consumed(celery_app, alpha.hostname)

    before = process_count(celery_app, alpha.hostname)
    grow = page.locator('.worker-controls [data-command="pool_grow"]')
    grow.get_by_label("Processes").fill("1")
    grow.get_by_role("button", name="Grow pool").click()
    page.locator("#control-result").get_by_text("pool will grow").wait_for()
    page.locator("#section-stats .pool-processes", has_text=str(before + 1)).wait_for(timeout=20_000)
    assert page.console_errors == []
    control(client, alpha.hostname, "pool_shrink", n=1)
