"""A drop on an up-to-date page is answered with the page's new version only (the browser has put
the item in place itself); a stale, refused or keyboard move still gets the whole list. Each move
writes one audit row with one INSERT, and no answer rewrites the session cookie."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import event
from werkzeug.security import generate_password_hash

from dashboard import create_app
from dashboard.extensions import db
from tests.conftest import app_config

HX = {"HX-Request": "true"}


def seen_version(html: str) -> str:
    return re.search(r'id="staging-seen-version" name="version" value="(\d+)"', html).group(1)


def test_a_drop_on_an_up_to_date_page_is_answered_with_its_new_version_only(client, stage, order):
    a, b, c = stage(3)
    response = client.post(f"/staging/{c}/move", data={"before": a, "after": "", "version": "3"}, headers=HX)
    assert response.status_code == 200
    assert order() == [c, a, b]
    html = response.get_data(as_text=True)
    assert (response.headers["HX-Retarget"], response.headers["HX-Reswap"]) == ("#staging-seen", "outerHTML")
    assert seen_version(html) == "4" and 'data-testid="staging-version">4<' in html
    assert '<div id="staging-messages" hx-swap-oob="true"></div>' in html  # an old notice goes
    assert "staging-item" not in html and len(html) < 1000
    assert response.headers["Cache-Control"] == "no-store" and "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize(
    "data",
    [
        {"version": ""},  # no version: the page's state is unknown
        {"version": "1"},  # the list changed before the move
    ],
    ids=["without-version", "stale"],
)
def test_a_drop_from_a_page_not_known_to_be_current_gets_the_whole_list(client, stage, order, data):
    a, b, c = stage(3)
    response = client.post(f"/staging/{c}/move", data={"before": a, "after": b, **data}, headers=HX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.startswith('<section id="staging-list-region"') and "HX-Retarget" not in response.headers
    assert seen_version(html) == "4"
    assert order() == [c, a, b]


def test_a_keyboard_move_gets_the_whole_list_and_its_forms_send_the_pages_version(client, stage, order):
    a, b = stage(2)
    response = client.post(f"/staging/{b}/move", data={"position": "up", "version": "2"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<section id="staging-list-region"')
    assert "changed since you loaded it" not in html
    assert order() == [b, a] and seen_version(html) == "3"
    # One place holds the version; every keyboard form includes it rather than carrying its own.
    assert html.count('hx-include="#staging-seen-version"') == 2
    assert html.count('name="version"') == 1


@pytest.fixture
def basic_app(tmp_path, redis_server, database_url, key_prefix):
    """Basic auth as production runs it, and no pruning, so that every statement is the request's."""
    users = f"otto:operator:{generate_password_hash('pw', method='pbkdf2:sha256:1000')}"
    config = app_config(tmp_path, redis_server.url, database_url, key_prefix)
    config.update(AUTH_MODE="basic", AUTH_BASIC_USERS=users, AUDIT_RETENTION_DAYS=0)
    app = create_app(config)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_drop_is_one_audit_insert_and_leaves_the_session_cookie_alone(basic_app, stage, order):
    a, b = stage(2)
    client = basic_app.test_client()
    auth = {"Authorization": "Basic " + base64.b64encode(b"otto:pw").decode()}
    page = client.get("/staging/", headers=auth)
    assert any(c.startswith("session=") for c in page.headers.getlist("Set-Cookie"))
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.get_data(as_text=True)).group(1)
    statements: list[str] = []
    with basic_app.app_context():
        engine = db.engine

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        response = client.post(
            f"/staging/{b}/move",
            data={"before": a, "after": "", "version": "2"},
            headers={**auth, **HX, "X-CSRFToken": token},
        )
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert response.status_code == 200 and response.headers["HX-Retarget"] == "#staging-seen"
    assert order() == [b, a]
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO audit_log"), statements
    assert response.headers.getlist("Set-Cookie") == []


def page_order(page) -> list[str]:
    return page.eval_on_selector_all(".staging-list > .staging-item", "items => items.map(i => i.dataset.id)")


def drag_before(page, moved: str, target: str):
    """Drag ``moved`` by its handle onto the upper part of ``target``; returns the move's response."""
    source = page.locator(f'.staging-item[data-id="{moved}"] .staging-handle').bounding_box()
    goal = page.locator(f'.staging-item[data-id="{target}"] .staging-handle').bounding_box()
    x = source["x"] + source["width"] / 2
    with page.expect_response(lambda r: f"/staging/{moved}/move" in r.url) as answer:
        page.mouse.move(x, source["y"] + source["height"] / 2)
        page.mouse.down()
        page.mouse.move(x, goal["y"] + 2, steps=15)
        page.mouse.up()
    return answer.value


@pytest.mark.browser
def test_drops_then_a_keyboard_move_never_take_the_pages_own_changes_for_stale(page, stage, order):
    a, b, c, d = stage(4)
    page.set_viewport_size({"width": 1280, "height": 1400})  # every item on screen for the mouse
    page.goto("/staging/")
    page.wait_for_function("() => document.querySelector('.staging-list')?.dataset.sortable === 'on'")
    version = page.locator("[data-testid=staging-version]")

    first = drag_before(page, d, b)
    assert first.status == 200 and first.headers["hx-retarget"] == "#staging-seen"
    expect(version).to_have_text("5")
    second = drag_before(page, c, a)
    assert "version=5" in second.request.post_data and second.headers["hx-retarget"] == "#staging-seen"
    expect(version).to_have_text("6")
    assert order() == [c, a, d, b] == page_order(page)

    page.get_by_role("button", name=f"Move {a} down").focus()
    with page.expect_response(lambda r: f"/staging/{a}/move" in r.url) as keyed:
        page.keyboard.press("Enter")
    assert "version=6" in keyed.value.request.post_data
    expect(version).to_have_text("7")
    assert order() == [c, d, a, b] == page_order(page)
    expect(page.locator(".staging-notice")).to_have_count(0)  # the page's own drops are no "change"
    assert page.console_errors == []
