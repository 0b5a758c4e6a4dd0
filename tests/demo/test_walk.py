"""The demo data set, and every page, partial and API read walked on it.

`flask taskdeck demo --size small` fills a system of the module's own (tests/demo/conftest.py);
then chromium visits every GET route of the URL map with its converters filled from that data
(real run ids of every state, queue names and waiting messages, staged and held items, schedules,
the worker), fetches every partial those pages poll, and fails on any 5xx or console error.
"""

from __future__ import annotations

import json
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import func

from dashboard.core.runs import ORIGINS, STATES, TaskRun
from dashboard.demo.payloads import MARKER, SCRIPT
from tests.conftest import open_tab

pytestmark = [pytest.mark.browser, pytest.mark.worker]

HX = {"HX-Request": "true"}
# htmx has started and no request it made is in flight (the queue page loads its held messages).
SETTLED = "() => window.htmx !== undefined && document.querySelector('.htmx-request') === null"


def test_the_demo_leaves_every_state_and_origin_in_the_history(demo):
    runs = demo.runs()  # the fixture waited until every state was recorded
    assert {run.state for run in runs} == set(STATES)
    assert {run.origin for run in runs} == set(ORIGINS)
    assert any(run.retry_of for run in runs), "no retry of a failed run"
    assert any(run.parent_id for run in runs), "no workflow step with a parent"
    assert any(run.retries >= 2 and run.state == "SUCCESS" for run in runs), "no run that retried"
    assert next(run for run in runs if run.state == "PROGRESS").progress_percent is not None
    assert {"celery", "reports", "backfill"} <= {run.queue for run in runs}
    hostile = [run for run in runs if run.state == "FAILURE" and SCRIPT in (run.exception or "")]
    assert hostile and all("\x00" not in run.exception for run in hostile)  # NUL stored as U+FFFD
    huge = next(run for run in runs if run.name == "tasks.export_rows")
    assert "more characters not stored" in huge.result
    staging = demo.api("/staging")
    assert staging["items"] and staging["held"]
    assert {s["kind"] for s in demo.api("/schedules")} == {"once", "interval", "cron"}
    assert {s["enabled"] for s in demo.api("/schedules")} == {True, False}
    assert "Demo data set 'small' created" in demo.output, demo.output


class Walk:
    """Visits URLs in one chromium tab, noting every 5xx (of the tab's own requests and of the
    fetches made beside it) and every console error."""

    def __init__(self, tab):
        self.tab = tab
        self.problems: list[str] = []
        self.fetched: set[str] = set()  # paths of the partials fetched so far
        self.pages = 0
        tab.on("response", self.check)

    def check(self, response) -> None:
        if response.status >= 500:
            self.problems.append(f"{response.status} {response.url}")

    def fetch(self, url: str, headers: dict | None = None):
        response = self.tab.request.get(url, headers=headers or {}, max_redirects=0)
        if response.status >= 500:
            self.problems.append(f"{response.status} {url} {headers or ''}")
        return response

    def show(self, url: str) -> None:
        """Open ``url`` in the tab and wait until htmx has nothing in flight."""
        self.tab.goto(url, wait_until="load")
        self.tab.wait_for_function(SETTLED)

    def visit(self, url: str) -> None:
        """A page in the tab (then the partials it polls), a fragment or a download by request."""
        plain = self.fetch(url)
        disposition = plain.headers.get("content-disposition", "")
        if "attachment" in disposition or not plain.headers.get("content-type", "").startswith("text/html"):
            return  # a download
        self.fetch(url, HX)  # the fragment a poll or a swap asks for
        if not plain.text()[:200].lower().startswith("<!doctype html"):
            return  # a fragment only
        errors_before = len(self.tab.console_errors)
        self.show(url)
        self.pages += 1
        for error in self.tab.console_errors[errors_before:]:
            self.problems.append(f"console error on {url}: {error}")
        for target in self.tab.eval_on_selector_all(
            "[hx-get]", "els => els.map(e => e.getAttribute('hx-get'))"
        ):
            partial = urljoin(self.tab.url, target)
            if urlsplit(partial).path not in self.fetched:
                self.fetched.add(urlsplit(partial).path)
                self.fetch(partial, HX)


def walk_data(demo) -> dict:
    """Values for the URL map's converters, from the demo's data as the API lists it."""
    from dashboard.overview.views import TILES
    from dashboard.workers.control import COMMANDS
    from dashboard.workers.service import DETAIL_KINDS

    queues = [queue["name"] for queue in demo.api("/queues")["queues"]]
    staging = demo.api("/staging")
    one_per_state = [demo.runs(TaskRun.state == state)[0] for state in STATES]
    picks = [TaskRun.origin == origin for origin in ORIGINS]
    picks += [TaskRun.retry_of.is_not(None), TaskRun.parent_id.is_not(None), TaskRun.retries > 0]
    # The largest values: their pages cut them, their downloads hold them whole.
    largest = [
        TaskRun.name == "tasks.export_rows",
        TaskRun.name == "tasks.build_tree",
        func.length(TaskRun.args) > 60_000,
        func.length(TaskRun.exception) > 60_000,
        TaskRun.exception.contains(SCRIPT),
    ]
    large = [demo.runs(pick)[0] for pick in largest]
    runs = (
        one_per_state
        + [demo.runs(pick)[0] for pick in picks]
        + large
        + demo.runs(TaskRun.name == "tasks.echo")
    )
    return {
        "queues": queues,
        "messages": {
            q: [m["task_id"] for m in demo.api(f"/queues/{q}/messages?limit=2")["messages"]] for q in queues
        },
        "items": [item["id"] for item in staging["items"]],
        "held": [item["id"] for item in staging["held"]],
        "schedules": [schedule["id"] for schedule in demo.api("/schedules")],
        "workers": [worker["hostname"] for worker in demo.api("/workers")["workers"]],
        "tasks": [task["name"] for task in demo.api("/tasks")["tasks"]],
        "runs": list(dict.fromkeys(run.task_id for run in runs)),
        "downloads": list(dict.fromkeys(run.task_id for run in large + one_per_state[3:4])),
        "tiles": TILES,
        "commands": list(COMMANDS),
        "kinds": DETAIL_KINDS,
    }


def argument_sets(rule, data: dict) -> list[dict]:
    """Every filling of ``rule``'s converters the data has; fails for a converter it cannot fill."""
    names, endpoint = rule.arguments, rule.endpoint.partition(".")[2]  # without the mount's name
    if not names:
        return [{}]
    if "hostname" in names:
        extra = {"command": data["commands"], "kind": data["kinds"]}
        key = next((name for name in extra if name in names), None)
        values = extra[key] if key else [None]
        return [{"hostname": h, **({key: v} if key else {})} for h in data["workers"] for v in values]
    if endpoint.startswith("queues"):
        if "task_id" in names:
            return [{"name": q, "task_id": t} for q, ids in data["messages"].items() for t in ids]
        return [{"name": q} for q in data["queues"]]
    if endpoint.startswith("registry") and "name" in names:
        return [{"name": task} for task in data["tasks"]]
    if endpoint == "overview.tile":
        return [{"name": tile} for tile in data["tiles"]]
    if "field" in names:
        from dashboard.history.service import DOWNLOADABLE

        return [{"task_id": run, "field": field} for run in data["downloads"] for field in DOWNLOADABLE]
    if "task_id" in names:
        return [{"task_id": run} for run in data["runs"]]
    if "schedule_id" in names:
        return [{"schedule_id": schedule} for schedule in data["schedules"]]
    if "item_id" in names:
        # Held items are not in the list: only returned or removed, never edited (404 by design).
        items = data["items"] if endpoint == "staging.edit_item" else data["items"] + data["held"]
        return [{"item_id": item} for item in items]
    raise AssertionError(f"the walk has no data for {rule.rule} ({endpoint}): add it to argument_sets")


def get_urls(demo, data: dict, *, api: bool) -> list[str]:
    urls = []
    with demo.app.test_request_context():
        from flask import url_for

        for rule in demo.app.url_map.iter_rules():
            if "GET" not in rule.methods or rule.rule.startswith("/static/"):
                continue
            if rule.rule.startswith("/api/") != api:
                continue
            urls += [url_for(rule.endpoint, **values) for values in argument_sets(rule, data)]
    return sorted(set(urls))


def history_views(demo) -> list[str]:
    """The history list as operators narrow it: by state, origin, text, an older page, the day."""
    older = demo.api("/runs?limit=10")["next_cursor"]
    views = [f"/history/?state={state}" for state in STATES] + [f"/history/?origin={o}" for o in ORIGINS]
    return views + ["/history/?q=%3Cscript%3E", f"/history/?before={older}", "/history/charts?window=day"]


def test_every_page_and_partial_answers_on_the_demo_data(demo, browser):
    data = walk_data(demo)
    tab = open_tab(browser, base_url=demo.url)
    walk = Walk(tab)
    try:
        for url in get_urls(demo, data, api=False) + history_views(demo):
            walk.visit(url)
        assert not walk.problems, "\n".join(walk.problems) + "\n--- app log ---\n" + demo.app_log()[-6000:]
        assert walk.pages > 40 and len(walk.fetched) > 10

        # The data shows: a PROGRESS run with its bar, a FAILURE with its hostile text as text.
        walk.show("/history/?state=PROGRESS")
        assert tab.locator("tr.state-progress progress").count() >= 1
        walk.show("/history/?state=FAILURE&task=tasks.always_fails")
        assert SCRIPT in tab.locator("table.history-table").inner_text()
        assert_nothing_injected(tab)
        hostile = next(
            r for r in demo.runs(TaskRun.state == "FAILURE") if r.exception and SCRIPT in r.exception
        )
        walk.show(f"/history/runs/{hostile.task_id}")
        assert SCRIPT in tab.locator("#value-exception").inner_text()
        assert_nothing_injected(tab)
        for path, shown in pages_with_data(demo, data).items():
            walk.show(path)
            assert shown in tab.locator("main").inner_text(), f"{path} does not show {shown!r}"
            assert_nothing_injected(tab)
        assert not tab.console_errors, tab.console_errors
    finally:
        tab.context.close()


def pages_with_data(demo, data: dict) -> dict[str, str]:
    """Each area's page and a text from the data set it must show."""
    suffix = demo.output.split("ids end in '", 1)[1][:6]
    return {
        "/": "backfill",
        "/tasks/": "tasks.sync_partner_feed",
        "/queues/": "backfill",
        "/queues/backfill": "tasks.backfill_day",
        "/staging/": f"demo-poison-countdown-{suffix}",
        "/schedules/": f"Nightly report {suffix}",
        "/history/": "tasks.long_task",
        "/workers/": data["workers"][0],
    }


def assert_nothing_injected(tab) -> None:
    assert tab.locator("script:not([src])").count() == 0, f"an inline script on {tab.url}"
    assert tab.locator(f"[{MARKER}]").count() == 0, f"markup from the data rendered as HTML on {tab.url}"


def test_every_api_read_answers_with_json_on_the_demo_data(demo):
    data = walk_data(demo)
    failures = []
    for url in get_urls(demo, data, api=True) + ["/api/v1/runs?state=FAILURE&limit=500"]:
        status, body, headers = demo.get(url)
        if status >= 500:
            failures.append(f"{status} {url}: {body[:300]!r}")
        elif "json" in headers.get("Content-Type", ""):
            json.loads(body)  # valid JSON, whatever the data held
        elif url != "/api/v1/docs":  # the reference page is HTML
            failures.append(f"{status} {url} is not JSON: {headers.get('Content-Type')}")
    assert not failures, "\n".join(failures) + "\n--- app log ---\n" + demo.app_log()[-6000:]
    detail = demo.api(f"/runs/{demo.runs(TaskRun.name == 'tasks.export_rows')[0].task_id}")
    assert "more characters not stored" in detail["result"]  # the huge result, cut with a note
