"""Keyboard only: tab to the controls, see where focus is, operate them with Enter."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.servers import wait_until

pytestmark = pytest.mark.browser

FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {id: el.id, label: el.getAttribute('aria-label') || el.textContent.trim().slice(0, 60),
          tag: el.tagName, outline: style.outlineStyle, width: parseFloat(style.outlineWidth)};
}"""


def tab_to(page, matches, limit: int = 120) -> list[dict]:
    """Press Tab until ``matches(focused)``; returns every control focused on the way."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None:
            continue
        seen.append(focused)
        if matches(focused):
            return seen
    raise AssertionError(f"Tab never reached the control; focused: {[f['label'] for f in seen]}")


def assert_focus_visible(seen: list[dict]) -> None:
    hidden = [f for f in seen if f["outline"] == "none" or f["width"] <= 0]
    assert not hidden, f"focus is not visible on: {hidden}"


def test_run_form_is_filled_and_sent_with_the_keyboard_and_focus_is_visible(page, celery_worker):
    page.goto("/tasks/tasks.add")
    seen = tab_to(page, lambda f: f["id"] == "p__x")
    page.keyboard.type("2")
    seen += tab_to(page, lambda f: f["id"] == "p__y")
    page.keyboard.type("3")
    page.keyboard.press("Enter")  # submits the form from a text field
    expect(page.locator(".run-state .state")).to_have_text("SUCCESS", timeout=30_000)
    expect(page.locator(".run-state .run-result")).to_have_text("5")
    assert_focus_visible(seen)
    assert page.console_errors == []


def test_staging_list_is_reordered_by_tabbing_to_a_move_button_and_pressing_enter(page, stage, order):
    a, b, c = stage(3)
    page.goto("/staging/")
    page.wait_for_function("() => window.htmx !== undefined")
    seen = tab_to(page, lambda f: f["label"] == f"Move {a} down")
    with page.expect_response(lambda r: f"/staging/{a}/move" in r.url):
        page.keyboard.press("Enter")
    wait_until(lambda: order() == [b, a, c], timeout=10, what="Redis order after the keyboard move")
    page.wait_for_function(
        "id => document.querySelectorAll('.staging-list > .staging-item')[1]?.dataset.id === id", arg=a
    )
    # Every control on the way, and the one holding focus after the move, shows where focus is.
    focused = page.evaluate(FOCUSED)
    assert_focus_visible(seen + ([focused] if focused else []))
    assert page.console_errors == []
