"""What a person sees in Debian chromium: every page loads cleanly, the theme toggles."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAGES = ["/", "/tasks/", "/queues/", "/staging/", "/schedules/", "/history/", "/workers/"]


def test_every_page_loads_without_console_errors(page):
    for url in PAGES:
        response = page.goto(url)
        assert response.status == 200, url
        page.wait_for_function("() => window.htmx !== undefined")
        assert page.locator("nav[aria-label=Areas]").is_visible()
    assert page.console_errors == []


def test_navigation_marks_the_current_area(page):
    page.goto("/")
    areas = page.get_by_role("navigation", name="Areas")
    areas.get_by_role("link", name="Queues").click()
    page.wait_for_url("**/queues/")
    assert areas.get_by_role("link", name="Queues").get_attribute("aria-current") == "page"


def test_theme_toggle_switches_and_is_remembered(page):
    page.emulate_media(color_scheme="light")
    page.goto("/")
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.get_by_role("button", name="Switch between light and dark theme").click()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    dark_background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert dark_background != background
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    page.get_by_role("button", name="Switch between light and dark theme").click()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "light"
    assert page.console_errors == []


def test_overview_tiles_poll_in_place(page):
    page.goto("/")
    with page.expect_response(lambda r: "/overview/tiles/redis" in r.url, timeout=15_000) as polled:
        pass
    assert polled.value.status == 200
    expect(page.locator("#tile-redis.status-ok")).to_be_visible()


def test_poll_interval_picker_stops_and_restarts_polling_and_is_remembered(page):
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/overview/tiles/redis" in r.url else None)
    page.goto("/")
    picker = page.get_by_label("Refresh interval")
    picker.select_option("0")
    assert page.locator("#tile-redis").get_attribute("hx-trigger") is None
    seen = len(polls)
    page.wait_for_timeout(6_000)  # longer than the default 5 s interval: nothing may be polled
    assert len(polls) == seen
    page.reload()
    assert page.get_by_label("Refresh interval").input_value() == "0"
    assert page.locator("#tile-redis").get_attribute("hx-trigger") is None
    page.get_by_label("Refresh interval").select_option("2")
    with page.expect_request(lambda r: "/overview/tiles/redis" in r.url, timeout=10_000):
        pass
    assert page.console_errors == []
