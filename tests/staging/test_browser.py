"""Reordering in Debian chromium: with the mouse (Sortable drag and drop) and with the keyboard."""

from __future__ import annotations

import pytest

from tests.support.servers import wait_until

pytestmark = pytest.mark.browser


def page_order(page) -> list[str]:
    return page.eval_on_selector_all(".staging-list > .staging-item", "items => items.map(i => i.dataset.id)")


def test_dragging_an_item_with_the_mouse_moves_it_on_the_page_and_in_redis(page, stage, order):
    a, b, c, d = stage(4)
    page.set_viewport_size({"width": 1280, "height": 1400})  # every item on screen for the mouse
    page.goto("/staging/")
    page.wait_for_function("() => document.querySelector('.staging-list')?.dataset.sortable === 'on'")
    source = page.locator(f'.staging-item[data-id="{d}"] .staging-handle').bounding_box()
    target = page.locator(f'.staging-item[data-id="{b}"] .staging-handle').bounding_box()
    with page.expect_response(lambda r: f"/staging/{d}/move" in r.url) as moved:
        page.mouse.move(source["x"] + source["width"] / 2, source["y"] + source["height"] / 2)
        page.mouse.down()
        steps_to = target["y"] + 2  # the upper part of b: d lands before it
        for step in range(1, 16):
            y = source["y"] + (steps_to - source["y"]) * step / 15
            page.mouse.move(source["x"] + source["width"] / 2, y)
            page.wait_for_timeout(20)  # let Sortable see each pointer move
        page.mouse.up()
    assert moved.value.status == 200
    wait_until(lambda: order() == [a, d, b, c], timeout=10, what="Redis order after the drop")
    page.wait_for_function(
        "v => document.querySelector('[data-testid=staging-version]').textContent === v", arg="5"
    )
    assert page_order(page) == [a, d, b, c]
    assert page.console_errors == []


def test_keyboard_controls_move_an_item_on_the_page_and_in_redis(page, stage, order):
    a, b, c = stage(3)
    page.goto("/staging/")
    page.get_by_role("button", name=f"Move {c} to the top").focus()
    with page.expect_response(lambda r: f"/staging/{c}/move" in r.url):
        page.keyboard.press("Enter")
    wait_until(lambda: order() == [c, a, b], timeout=10, what="Redis order after the keyboard move")
    page.wait_for_function(
        "id => document.querySelector('.staging-list > .staging-item')?.dataset.id === id", arg=c
    )
    assert page_order(page) == [c, a, b]
    # Focus stays with the moved item, so moving on with the keyboard works.
    page.keyboard.press("Tab")  # from "to the top" (now disabled -> focus moved) to the next control
    page.get_by_role("button", name=f"Move {c} down").focus()
    with page.expect_response(lambda r: f"/staging/{c}/move" in r.url):
        page.keyboard.press("Enter")
    wait_until(lambda: order() == [a, c, b], timeout=10, what="Redis order after moving down")
    page.wait_for_function(
        "id => document.querySelectorAll('.staging-list > .staging-item')[1]?.dataset.id === id", arg=c
    )
    assert page.console_errors == []
