"""The header's language links switch the whole page, and the choice sticks while browsing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_language_links_switch_the_navigation_to_chinese_and_back(page):
    page.goto("/history/")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="History")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_role("link", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    nav = page.get_by_role("navigation", name="功能区")
    expect(nav.get_by_role("link", name="历史")).to_be_visible()
    expect(nav.get_by_role("link", name="队列")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("历史")

    # The choice is remembered: another area opens in Chinese too.
    nav.get_by_role("link", name="队列").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("队列")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="Queues")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Queues")
    assert page.console_errors == []
