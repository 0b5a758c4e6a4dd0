"""In Debian chromium, inside the example portal (examples/host_app.py, two mounts): the portal's page
frames the first mount, a task runs from the frame, the portal's own form and language go on as
before, and every request each frame makes stays under its mount's prefix."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from examples.host_app import create_portal
from tests.conftest import open_tab
from tests.portal.conftest import run_tasks_add
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def portal_url(tmp_path, mount_configs):
    portal = create_portal(
        *mount_configs,
        instance_path=tmp_path / "portal",
        database_url=f"sqlite:///{tmp_path / 'portal' / 'portal.db'}",
        secret_key="portal-secret",
    )
    server = LiveServer(portal).start()
    yield server.url
    server.stop()


@pytest.fixture
def tab(browser, portal_url):
    page = open_tab(browser, base_url=portal_url, viewport={"width": 1300, "height": 1400})
    yield page
    page.context.close()


def test_the_dashboard_works_in_the_portal_frame_and_the_portal_around_it(tab, portal_url, celery_worker):
    frame_requests: list[str] = []
    tab.on("request", lambda r: frame_requests.append(r.url) if r.frame != tab.main_frame else None)

    tab.goto("/")
    expect(tab.locator("#portal-locale")).to_have_text("fr")
    frame = tab.frame_locator("#operations")
    expect(frame.locator("#tile-redis")).to_be_visible()
    expect(frame.get_by_role("navigation", name="Areas")).to_have_count(0)  # embedded: no chrome

    # A form post in the frame: run tasks.add, the result arrives through htmx polls.
    tab.frame(name="operations").goto(f"{portal_url}/ops/celery/tasks/tasks.add")
    run_tasks_add(frame)
    assert all(url.startswith(f"{portal_url}/ops/celery/") for url in frame_requests), frame_requests

    # The portal's own form (its CSRFProtect, its database) and language, around the frame.
    tab.get_by_label("Note").fill("checked the queues")
    tab.get_by_role("button", name="Add").click()
    expect(tab.locator("#notes li")).to_have_text(["checked the queues"])
    expect(tab.locator("#portal-locale")).to_have_text("fr")
    expect(frame.locator("#tile-redis")).to_be_visible()  # the new page's frame, loaded

    # The second mount, in the same frame: its own staging list, under its own prefix.
    tab.frame(name="operations").goto(f"{portal_url}/ops/batch/staging/")
    expect(frame.get_by_test_id("staging-count")).to_have_text("0")  # the first mount staged nothing here
    assert any(url.startswith(f"{portal_url}/ops/batch/static/") for url in frame_requests)
    mounts = (f"{portal_url}/ops/celery/", f"{portal_url}/ops/batch/")
    assert all(url.startswith(mounts) for url in frame_requests), frame_requests
    assert tab.console_errors == []
