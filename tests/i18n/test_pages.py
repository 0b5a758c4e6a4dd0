"""Every page renders in Simplified Chinese with no English message of the catalogue left over."""

from __future__ import annotations

import html
import re
import uuid

import pytest

from tests.support.pages import page_rules


def _argument_free_pages(app) -> list[str]:
    paths = set()
    for rule in page_rules(app):
        if rule.rule.endswith((".csv", ".json", "/export", "/preview")) or "export" in rule.endpoint:
            continue
        paths.add(rule.rule)
    return sorted(paths)


def _visible_text(page: str) -> str:
    """The text a reader sees: tags, scripts, styles and attribute values removed."""
    page = re.sub(r"(?is)<(script|style|template)\b.*?</\1>", " ", page)
    page = re.sub(r"(?s)<!--.*?-->", " ", page)
    page = re.sub(r"(?s)<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def _english_phrases(zh_catalogue) -> list[str]:
    """English text of each message that must not survive translation.

    A message without placeholders counts whole when it has two or more words; one with
    placeholders contributes its fixed parts of three or more words (shorter parts such as
    "to the" also occur in task data, which is never translated).
    """
    phrases = set()
    for message in zh_catalogue:
        if not message.id:
            continue
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            parts = re.split(r"%\(\w+\)[sd]", msgid.replace("%%", "%"))
            least = 2 if len(parts) == 1 else 3
            for part in parts:
                part = part.strip(" .,:;()?!–—")
                if len(re.findall(r"[A-Za-z]{2,}", part)) >= least:
                    phrases.add(part)
    return sorted(phrases, key=len, reverse=True)


def _untranslated(text: str, phrases: list[str]) -> list[str]:
    return [p for p in phrases if re.search(r"(?<![A-Za-z])" + re.escape(p) + r"(?![A-Za-z])", text)]


@pytest.fixture
def data(app, celery_app):
    """One of each detail page's subject: a run, a schedule, a staged item, a waiting message."""
    from dashboard.core.runs import record_sent
    from dashboard.extensions import db
    from dashboard.redis_client import get_celery, get_redis
    from dashboard.schedules import service as schedules
    from dashboard.staging import service as staging

    queue = f"i18n-{uuid.uuid4().hex[:8]}"
    task_id = str(uuid.uuid4())
    with app.app_context():
        record_sent(
            db.session,
            task_id=task_id,
            name="tasks.add",
            args="[1, 2]",
            kwargs="{}",
            queue=queue,
            origin="operator",
        )
        db.session.commit()
        schedule = schedules.create_schedule(
            db.session,
            get_celery(),
            {"name": "nightly", "task": "tasks.add", "kind": "cron", "cron": "30 2 * * *", "args": "[1, 2]"},
            max_payload=65536,
        )
        db.session.commit()
        item = staging.build_item(
            get_celery(), {"task": "tasks.add", "args": [1, 2]}, staged_by="test", max_bytes=65536
        )
        staging.stage_item(get_redis(), app.config["TASKDECK_KEY_PREFIX"], item)
        get_celery().send_task("tasks.add", args=[1, 2], queue=queue)
        return {"run": task_id, "schedule": schedule.id, "staged": item.id, "queue": queue}


def _detail_paths(app, data) -> list[str]:
    """The detail pages, through url_for so the test follows the routes."""
    from dashboard.mount import url_for

    with app.test_request_context():
        return [
            url_for("history.run_detail", task_id=data["run"]),
            url_for("schedules.edit", schedule_id=data["schedule"]),
            url_for("staging.edit_item", item_id=data["staged"]),
            url_for("queues.detail", name=data["queue"]),
            url_for("registry.task_detail", name="tasks.add"),
            url_for("schedules.new"),
            url_for("history.live", live=data["run"]),  # the list's poll, with a row to refresh
        ]


def test_every_page_renders_in_chinese_without_english_messages(app, client, data, zh_catalogue):
    phrases = _english_phrases(zh_catalogue)
    paths = _argument_free_pages(app) + _detail_paths(app, data)
    assert len(paths) >= 12
    problems = {}
    for path in paths:
        path, _, query = path.partition("?")
        response = client.get(path, query_string=query + ("&" if query else "") + "lang=zh_CN")
        if path == "/history/live" and response.status_code == 204:
            continue  # the poll with nothing to say; it is read with a row among the details
        assert response.status_code == 200, (path, response.status_code)
        page = response.get_data(as_text=True)
        if page.lstrip().lower().startswith("<!doctype"):  # fragment-only routes have no <html>
            assert '<html lang="zh-CN"' in page, path
        left = _untranslated(_visible_text(page), phrases)
        if left:
            problems[path] = left
    assert not problems, problems


def test_the_english_pages_still_read_in_english(app, client, data):
    page = client.get("/history/").get_data(as_text=True)
    assert (
        'lang="en"' in page
        and "History" in page
        and "历史" not in _visible_text(page).replace("简体中文", "")
    )


def test_the_check_notices_an_untranslated_phrase(zh_catalogue):
    phrases = _english_phrases(zh_catalogue)
    assert _untranslated("状态 Release next now 队列", phrases) == ["Release next now"]
    assert not _untranslated("立即放行下一项 tasks.add SUCCESS", phrases)


def test_cron_text_follows_the_language(client, data):
    page = client.get("/schedules/", query_string={"lang": "zh_CN"}).get_data(as_text=True)
    assert "在 02:30" in page
    page = client.get("/schedules/", query_string={"lang": "en"}).get_data(as_text=True)
    assert "At 02:30" in page


@pytest.mark.parametrize(
    "cron, chinese, english",
    [
        ("30 2 * * 1-5", "星期一 到 星期五", "Monday through Friday"),
        ("0 9 1 1,6 *", "一月 和 六月", "January and June"),
        ("0 8 * * MON#2", "第二个星期一", "second Monday"),
    ],
)
def test_cron_day_and_month_names_follow_the_language(cron, chinese, english):
    from dashboard.schedules.timing import Timing, describe

    timing = Timing(
        kind="cron", timezone="UTC", run_at=None, every_seconds=None, cron=cron, start_at=None, end_at=None
    )
    assert chinese in describe(timing, "zh_CN")
    assert english in describe(timing, "en_US")
    assert not re.search(r"[A-Z][a-z]+day|January|June", describe(timing, "zh_CN"))


def test_numbers_follow_the_language(client, app):
    from flask_babel import force_locale

    from dashboard.i18n import number

    with app.test_request_context():
        with force_locale("en"):
            assert number(1234567) == "1,234,567"
        with force_locale("zh_CN"):
            assert number(1234.5, 3) == "1,234.500"
