"""Refusals raised in the Python code: translatable, Chinese on pages, English in the JSON API."""

from __future__ import annotations

import ast
import json
import logging
import traceback
import uuid

import pytest

from .conftest import ROOT

REFUSAL_BASES = {"DashboardError", "NotFound", "Unprocessable"}
# ValueErrors whose text an operator reads: callers turn them into a DashboardError (or a
# placeholder of one). Module -> the functions (``Class.method`` for methods) that raise them.
OPERATOR_VALUE_ERRORS = {
    "dashboard/queues/models.py": {"_json_body", "StageableMessage.from_raw"},
}


# --------------------------------------------------------------------------- the code


def _sources() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(ROOT)): ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path in sorted((ROOT / "dashboard").rglob("*.py"))
    }


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def refusal_classes(trees: dict[str, ast.Module]) -> set[str]:
    """DashboardError and every class deriving from it (directly or not) in the code."""
    classes = set(REFUSAL_BASES)
    grown = True
    while grown:
        grown = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in classes
                    and any(_name(base) in classes for base in node.bases)
                ):
                    classes.add(node.name)
                    grown = True
    return classes


def _untranslated(message: ast.expr | None) -> bool:
    """A message given as text: a literal, an f-string, or text built with ``%``, ``+`` or format()."""
    if message is None:
        return True
    if isinstance(message, ast.Constant):
        return isinstance(message.value, str)
    if isinstance(message, ast.JoinedStr):
        return True
    if isinstance(message, ast.BinOp):
        return _untranslated(message.left) or _untranslated(message.right)
    if isinstance(message, ast.Call) and isinstance(message.func, ast.Attribute):
        return message.func.attr == "format" and _untranslated(message.func.value)
    return False


def _message(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    return next((kw.value for kw in call.keywords if kw.arg == "message"), None)


def untranslated_refusals(trees: dict[str, ast.Module]) -> list[str]:
    """``path:line`` of every refusal raised with text instead of a (lazy) gettext call."""
    classes = refusal_classes(trees)
    found = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            rebuilt = isinstance(func, ast.Call) and _name(func.func) == "type"  # type(exc)(...)
            if (rebuilt or _name(func) in classes) and _untranslated(_message(node)):
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)[:120]}")
    return found


def _functions(tree: ast.Module):
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    yield f"{node.name}.{item.name}", item


def untranslated_value_errors(trees: dict[str, ast.Module]) -> list[str]:
    found = []
    for path, names in OPERATOR_VALUE_ERRORS.items():
        functions = dict(_functions(trees[path]))
        assert names <= set(functions), f"{path} no longer has {sorted(names - set(functions))}"
        for name in names:
            for node in ast.walk(functions[name]):
                if (
                    isinstance(node, ast.Raise)
                    and isinstance(node.exc, ast.Call)
                    and _name(node.exc.func) == "ValueError"
                    and _untranslated(_message(node.exc))
                ):
                    found.append(f"{path}:{node.lineno}: {ast.unparse(node.exc)[:120]}")
    return found


def test_the_scan_finds_the_refusal_classes_of_every_area():
    classes = refusal_classes(_sources())
    assert {
        "InvalidSchedule",
        "DuplicateName",
        "QueueMessageGone",
        "NotStageable",
        "UnknownTask",
        "InvalidRunOption",
        "UnknownItem",
        "StaleStagingVersion",
    } <= classes


def test_every_refusal_is_raised_with_a_translatable_message():
    found = untranslated_refusals(_sources())
    assert not found, "wrap these messages in _l(...) with named placeholders:\n" + "\n".join(found)


def test_value_errors_shown_to_operators_are_translatable():
    found = untranslated_value_errors(_sources())
    assert not found, "wrap these messages in _l(...) with named placeholders:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "code",
    [
        'raise DashboardError("select at least one run", field="task_id")',
        'raise NotFound(f"no schedule with id {schedule_id}")',
        'raise InvalidSchedule("unit must be one of " + ", ".join(UNITS))',
        'raise Unprocessable("%s must be text" % name, field=name)',
        'raise Unprocessable("{} must be text".format(name))',
        'raise type(exc)(f"schedule #{index}: {exc.message}", field=exc.field)',
        'raise InvalidSchedule(message="bad", field="cron")',
    ],
)
def test_the_scan_flags_text_messages(code):
    tree = {"dashboard/example.py": ast.parse("class InvalidSchedule(Unprocessable): pass\n" + code)}
    assert untranslated_refusals(tree)


@pytest.mark.parametrize(
    "code",
    [
        'raise DashboardError(_l("select at least one run"), field="task_id")',
        'raise NotFound(lazy_gettext("no schedule with id %(id)s", id=schedule_id))',
        "raise UnknownItem(no_item(item_id), field='id')",
        "raise type(exc)(message, field=exc.field)",
    ],
)
def test_the_scan_accepts_translatable_messages(code):
    tree = {"dashboard/example.py": ast.parse("class UnknownItem(NotFound): pass\n" + code)}
    assert not untranslated_refusals(tree)


# --------------------------------------------------------------------------- outside a request


def test_outside_a_request_refusals_are_english_and_format_everywhere(app):
    from dashboard.schedules.timing import InvalidSchedule, zone

    english = "unknown time zone 'Mars/Base' (use an IANA name such as Europe/Paris)"
    with pytest.raises(InvalidSchedule) as no_app:  # beat, dispatcher, CLI before an app exists
        zone("Mars/Base")
    with app.app_context(), pytest.raises(InvalidSchedule) as in_app:  # recorder, CLI commands
        zone("Mars/Base")
    for refusal in (no_app.value, in_app.value):
        assert refusal.message == str(refusal) == refusal.english == english
        assert refusal.to_json() == {"error": english, "field": "timezone"}
        record = logging.LogRecord("beat", logging.ERROR, __file__, 1, "refused: %s", (refusal,), None)
        assert record.getMessage() == f"refused: {english}"
        assert traceback.format_exception_only(refusal)[-1].strip().endswith(english)


def test_a_refusal_reads_in_the_language_asked_and_stays_english_as_json(app):
    from dashboard.schedules.timing import InvalidSchedule, zone

    chinese = "未知时区“Mars/Base”（请使用 IANA 名称，例如 Europe/Paris）"
    with app.test_request_context("/schedules/?lang=zh_CN"):
        with pytest.raises(InvalidSchedule) as refused:
            zone("Mars/Base")
        refusal = refused.value
        assert refusal.message == str(refusal) == chinese
        assert refusal.to_json()["error"] == refusal.english
        assert refusal.english.startswith("unknown time zone 'Mars/Base'")
        assert refusal.message == chinese  # rendering it in English for the API did not stick


# --------------------------------------------------------------------------- through the app

SCHEDULE = {"name": "", "task": "tasks.add", "kind": "cron", "cron": "*/5 * * * *", "timezone": "UTC"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _text(response) -> str:
    return response.get_data(as_text=True)


def test_a_schedule_form_refusal_is_chinese_on_the_page(client):
    form = {**SCHEDULE, "args": "[]", "kwargs": "{}"}
    response = client.post("/schedules/new?lang=zh_CN", data=form)
    page = _text(response)
    assert response.status_code == 422
    assert '<html lang="zh-CN"' in page
    assert "“名称”为必填项" in page
    assert "name is required" not in page


def test_the_same_refusal_in_the_api_stays_english_whatever_the_language(client):
    for headers in (ZH, {"X-Taskdeck-Language": "zh_CN"}, {}):
        response = client.post("/api/v1/schedules", json=SCHEDULE, headers=headers)
        assert response.status_code == 422
        assert response.get_json() == {"error": "name is required", "field": "name"}


def test_an_import_refusal_names_the_schedule_in_the_language_of_the_request(client):
    nightly = {"name": "nightly", "task": "tasks.add", "kind": "cron", "cron": "0 3 * * *", "args": [1, 2]}
    items = [nightly, {"name": "x"}]
    page = client.post("/schedules/import", data={"payload": json.dumps(items)}, headers=ZH)
    assert page.status_code == 422
    assert "第 2 个调度：“任务”为必填项" in _text(page)
    assert "schedule #2" not in _text(page)
    api = client.post("/api/v1/schedules/import", json=items, headers=ZH)
    assert (api.status_code, api.get_json()) == (
        422,
        {"error": "schedule #2: task is required", "field": "task"},
    )


def test_the_live_preview_explains_in_chinese_but_the_api_preview_in_english(client):
    query = {"kind": "cron", "cron": "61 * * * *", "timezone": "UTC"}
    fragment = client.get("/schedules/preview", query_string={**query, "lang": "zh_CN"})
    assert "无效的 Cron 表达式“61 * * * *”" in _text(fragment)
    api = client.get("/api/v1/schedules/preview", query_string=query, headers=ZH)
    assert api.status_code == 422
    assert api.get_json() == {"error": "invalid cron expression '61 * * * *'", "field": "cron"}


def test_a_bulk_action_without_a_selection_is_refused_in_chinese(client):
    response = client.post("/history/bulk/retry?lang=zh_CN", data={})
    assert response.status_code == 400
    assert "请至少选择一次运行" in _text(response)
    assert "select at least one run" not in _text(response)
    english = client.post("/history/bulk/retry?lang=en", data={})
    assert english.status_code == 400 and "select at least one run" in _text(english)


def test_a_bad_page_size_is_refused_in_chinese_on_the_page_and_in_english_by_the_api(client):
    queue = f"tdq-{uuid.uuid4().hex[:10]}"
    page = client.get(f"/queues/{queue}", query_string={"limit": "0", "lang": "zh_CN"})
    assert page.status_code == 400
    assert "“limit”必须在 1 到 500 之间" in _text(page)
    api = client.get(f"/api/v1/queues/{queue}/messages", query_string={"limit": "0"}, headers=ZH)
    assert (api.status_code, api.get_json()) == (
        400,
        {"error": "limit must be between 1 and 500", "field": "limit"},
    )


@pytest.fixture
def queue_name(redis_client) -> str:
    name = f"tdq-{uuid.uuid4().hex[:10]}"
    yield name
    redis_client.delete(name, *(f"{name}\x06\x16{step}" for step in (3, 6, 9)))


def test_a_message_staging_cannot_keep_is_refused_with_its_reason_translated(client, celery_app, queue_name):
    signature = celery_app.signature("tasks.add", args=(1, 2), queue=queue_name)
    linked = signature.apply_async(link=celery_app.signature("tasks.add", args=(3,)))
    row = client.post(
        f"/queues/{queue_name}/messages/{linked.id}/stage?lang=zh_CN", headers={"HX-Request": "true"}
    )
    assert f"消息 {linked.id} 无法移到暂存列表：它属于一个工作流（callbacks），暂存列表无法保留" in _text(row)
    api = client.post(f"/api/v1/queues/{queue_name}/messages/{linked.id}/stage", json={}, headers=ZH)
    assert api.status_code == 422
    assert api.get_json()["error"] == (
        f"message {linked.id} cannot be moved to staging: "
        "it is part of a workflow (callbacks) that staging would not keep"
    )


def test_worker_control_refusals_name_the_field_by_its_label_in_either_language(client):
    page = client.post("/workers/*/control/pool_grow?lang=zh_CN", data={"n": "0"})
    assert page.status_code == 422
    assert "“进程数”不能小于 1" in _text(page)
    api = client.post(
        "/api/v1/workers/*/control", json={"command": "pool_grow", "arguments": {"n": 0}}, headers=ZH
    )
    assert (api.status_code, api.get_json()) == (422, {"error": "Processes must be at least 1", "field": "n"})


def test_a_schedules_description_is_english_in_the_api_and_chinese_on_the_page(client):
    every = {"kind": "interval", "interval_every": "5", "interval_unit": "minutes"}
    body = {"name": "poll", "task": "tasks.add", "args": [1, 2], **every}
    created = client.post("/api/v1/schedules", json=body, headers=ZH)
    assert created.status_code == 201 and created.get_json()["human"] == "Every 5 minutes"
    detail = client.get(f"/api/v1/schedules/{created.get_json()['id']}", headers=ZH)
    assert detail.get_json()["human"] == "Every 5 minutes"
    preview = client.get("/api/v1/schedules/preview", query_string=every, headers=ZH)
    assert preview.get_json()["human"] == "Every 5 minutes"
    assert "每 5 分钟" in _text(client.get("/schedules/?lang=zh_CN"))
