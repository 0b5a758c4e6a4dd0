"""With JavaScript off, every page still reads and the run form still sends with a plain POST."""

from __future__ import annotations

import pytest

from tests.a11y.conftest import listed_pages

pytestmark = pytest.mark.browser


@pytest.fixture
def plain_page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_every_page_reads_and_the_run_form_posts_with_javascript_off(app, client, plain_page, detail_pages):
    page = plain_page
    for path in listed_pages(app, client) + detail_pages:
        response = page.goto(path)
        assert response.status == 200, f"{path} answered {response.status} without JavaScript"
        assert page.locator("main h1").count() >= 1, f"{path} has no heading without JavaScript"
    # Polling picker and copy buttons need scripts; nothing else does.
    page.goto("/tasks/tasks.add")
    assert page.locator(".copy-button:visible").count() == 0
    page.get_by_label("x: int").fill("2")
    page.get_by_label("y: int").fill("3")
    with page.expect_navigation():
        page.get_by_role("button", name="Run tasks.add").click()
    sent = page.locator(".run-sent .task-id")
    assert sent.count() == 1 and sent.inner_text().strip()
