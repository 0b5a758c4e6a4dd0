"""Which language a request gets: ?lang=, the portal header, the session, Accept-Language."""

from __future__ import annotations

import pytest

NAV_EN = ">Overview</a>"
NAV_ZH = ">概览</a>"


def _lang(response) -> str:
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    if NAV_ZH in page and '<html lang="zh-CN"' in page:
        return "zh_CN"
    if NAV_EN in page and '<html lang="en"' in page:
        return "en"
    raise AssertionError(page[:400])


def test_english_is_the_default(client):
    assert _lang(client.get("/history/")) == "en"


def test_query_parameter_chooses_the_language(client):
    assert _lang(client.get("/history/?lang=zh_CN")) == "zh_CN"
    assert _lang(client.get("/history/?lang=en")) == "en"


@pytest.mark.parametrize("value", ["zh-CN", "zh_cn", "zh", "zh-Hans"])
def test_query_parameter_accepts_the_usual_spellings(client, value):
    assert _lang(client.get("/history/", query_string={"lang": value})) == "zh_CN"


def test_unknown_language_falls_back_to_english(client):
    assert _lang(client.get("/history/?lang=fr")) == "en"


def test_query_choice_sticks_for_the_session(client):
    client.get("/history/?lang=zh_CN")
    assert _lang(client.get("/queues/")) == "zh_CN"
    client.get("/queues/?lang=en")
    assert _lang(client.get("/history/")) == "en"


def test_portal_header_chooses_the_language(client):
    assert _lang(client.get("/history/", headers={"X-Taskdeck-Language": "zh_CN"})) == "zh_CN"
    # The header is per request: it is not remembered.
    assert _lang(client.get("/history/")) == "en"


def test_header_wins_over_the_session_but_the_query_wins_over_both(client):
    client.get("/history/?lang=en")
    assert _lang(client.get("/history/", headers={"X-Taskdeck-Language": "zh-CN"})) == "zh_CN"
    response = client.get("/history/?lang=en", headers={"X-Taskdeck-Language": "zh-CN"})
    assert _lang(response) == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("zh", "zh_CN"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR,zh-CN;q=0.5", "zh_CN"),
        ("fr-FR", "en"),
    ],
)
def test_accept_language_chooses_when_nothing_else_does(client, header, expected):
    assert _lang(client.get("/history/", headers={"Accept-Language": header})) == expected


def test_session_wins_over_accept_language(client):
    client.get("/history/?lang=en")
    assert _lang(client.get("/history/", headers={"Accept-Language": "zh-CN"})) == "en"


def test_flash_messages_are_in_the_language_of_the_request_that_made_them(client, redis_client, app):
    """A purge's notice is written when the purge happens, in that request's language."""
    import uuid

    from dashboard.redis_client import get_celery

    queue = f"i18n-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        get_celery().send_task("tasks.add", args=[1, 2], queue=queue)
    client.get("/history/?lang=zh_CN")
    response = client.post(f"/queues/{queue}/purge", follow_redirects=True)
    assert response.status_code == 200
    assert f"已从 {queue} 清除 1 条等待中的消息。" in response.get_data(as_text=True)
