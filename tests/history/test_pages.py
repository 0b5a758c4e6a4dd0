"""History pages and API over recorded rows: filters, keyset pages, escaping, downloads."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from dashboard.core.runs import TaskRun, record_sent
from dashboard.extensions import db
from dashboard.history import service, store
from dashboard.history.merge import RunUpdate

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def add_runs(app, *specs: dict) -> list[str]:
    """Record runs through the same batch path as the recorder."""
    ids = []
    updates = []
    now = time.time()
    for index, spec in enumerate(specs):
        task_id = spec.get("id") or str(uuid.uuid4())
        ids.append(task_id)
        base = {"uuid": task_id, "hostname": spec.get("worker", "w1@host")}
        updates.append(
            RunUpdate.from_event(
                {
                    **base,
                    "type": "task-received",
                    "timestamp": now + index,
                    "name": spec.get("name", "tasks.add"),
                    "args": spec.get("args", "[1, 2]"),
                    "kwargs": "{}",
                    "retries": 0,
                }
            )
        )
        kind = {"SUCCESS": "task-succeeded", "FAILURE": "task-failed", "STARTED": "task-started"}[
            spec.get("state", "SUCCESS")
        ]
        updates.append(
            RunUpdate.from_event(
                {
                    **base,
                    "type": kind,
                    "timestamp": now + index + 0.5,
                    "result": spec.get("result", "3"),
                    "exception": spec.get("exception", "RuntimeError('boom')"),
                    "traceback": spec.get("traceback", "Traceback...\nRuntimeError: boom"),
                    "runtime": 0.5,
                }
            )
        )
    with app.app_context():
        # one batch per run keeps seq in the given order
        for start in range(0, len(updates), 2):
            store.apply_updates(db.session, updates[start : start + 2])
    return ids


def test_history_lists_newest_first_and_pages_by_cursor(app, client):
    ids = add_runs(app, *[{} for _ in range(service.PAGE_SIZE + 5)])
    first = client.get("/history/")
    assert first.status_code == 200
    body = first.get_data(as_text=True)
    assert body.index(ids[-1][:8]) < body.index(ids[-2][:8])
    api = client.get("/api/v1/runs?limit=3").get_json()
    assert [r["id"] for r in api["runs"]] == ids[-1:-4:-1]
    second = client.get(f"/api/v1/runs?limit=3&before={api['next_cursor']}").get_json()
    assert [r["id"] for r in second["runs"]] == ids[-4:-7:-1]
    back = client.get(f"/api/v1/runs?limit=3&after={second['prev_cursor']}").get_json()
    assert [r["id"] for r in back["runs"]] == [r["id"] for r in api["runs"]]


def test_filters_by_state_task_worker_and_text(app, client):
    ok, failed, other = add_runs(
        app,
        {"name": "tasks.add", "args": "[1, 2]"},
        {"name": "tasks.always_fails", "state": "FAILURE", "args": "['needle']", "worker": "w2@host"},
        {"name": "tasks.add", "args": "[5, 6]"},
    )

    def listed(query: str) -> set[str]:
        return {r["id"] for r in client.get(f"/api/v1/runs?{query}").get_json()["runs"]}

    assert listed("state=FAILURE") == {failed}
    assert listed("task=tasks.add") == {ok, other}
    assert listed("worker=w2@host") == {failed}
    assert listed("q=needle") == {failed}
    assert listed(f"q={ok[:8]}") == {ok}
    page = client.get("/history/?state=FAILURE").get_data(as_text=True)
    assert failed[:8] in page and ok[:8] not in page


@pytest.mark.parametrize("query", ["state=BOGUS", "origin=martian", "since=yesterday", "before=-4"])
def test_bad_filters_are_refused_without_crashing(client, query):
    assert client.get(f"/history/?{query}").status_code == 422
    response = client.get(f"/api/v1/runs?{query}")
    assert response.status_code == 422
    assert response.get_json()["field"]


def test_schedule_filter_matches_runs_of_that_schedule(app, client):
    with app.app_context():
        record_sent(
            db.session,
            task_id="s-1",
            name="tasks.add",
            args="[1, 2]",
            kwargs="{}",
            queue="celery",
            origin="schedule",
            origin_ref="7",
        )
        record_sent(
            db.session,
            task_id="s-2",
            name="tasks.add",
            args="[1, 2]",
            kwargs="{}",
            queue="celery",
            origin="schedule",
            origin_ref="8",
        )
    runs = client.get("/api/v1/runs?schedule=7").get_json()["runs"]
    assert [r["id"] for r in runs] == ["s-1"]
    assert runs[0]["origin"] == "schedule"
    detail = client.get("/history/runs/s-1").get_data(as_text=True)
    assert "/schedules/" in detail


def test_hostile_values_are_escaped_truncated_and_downloadable(app, client):
    huge = HOSTILE + "z" * 50_000
    (task_id,) = add_runs(app, {"args": f"[{HOSTILE!r}]", "state": "FAILURE", "traceback": huge})
    page = client.get(f"/history/runs/{task_id}").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "z" * (service.DISPLAY_LIMIT + 1) not in page
    assert f"Showing {service.DISPLAY_LIMIT} of" in page
    listing = client.get("/history/").get_data(as_text=True)
    assert "<script>alert" not in listing and "<img src=x" not in listing
    download = client.get(f"/history/runs/{task_id}/download/traceback")
    assert download.status_code == 200
    assert download.mimetype == "text/plain"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.get_data(as_text=True) == huge
    assert client.get(f"/history/runs/{task_id}/download/secret").status_code == 422


def test_unknown_run_is_404_on_page_and_api(client):
    assert client.get("/history/runs/nope").status_code == 404
    assert client.get("/api/v1/runs/nope").status_code == 404


def test_record_sent_is_an_upsert_that_keeps_recorded_state(app):
    (task_id,) = add_runs(app, {})
    with app.app_context():
        run = record_sent(
            db.session,
            task_id=task_id,
            name="tasks.add",
            args="[1, 2]",
            kwargs="{}",
            queue="celery",
            origin="operator",
        )
        assert (run.state, run.origin) == ("SUCCESS", "operator")
        assert db.session.query(TaskRun).filter_by(task_id=task_id).count() == 1


def test_unfinished_rows_are_refreshed_by_the_list_s_one_poll_until_final(app, client):
    running, done = add_runs(app, {"state": "STARTED"}, {})
    page = client.get("/history/").get_data(as_text=True)
    assert f'name="live" value="{running}"' in page and f'name="live" value="{done}"' not in page
    assert page.count("hx-trigger=") == 1  # the list's one poller: no row polls on its own
    poll = live_poller(page) + f"&live={running}"
    answer = client.get(poll, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'hx-swap-oob="true"' in answer and running in answer and "state-started" in answer
    add_runs(app, {"id": running})  # it finishes
    answer = client.get(poll, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "state-success" in answer and f'name="live" value="{running}"' not in answer  # leaves the poll


def test_charts_render_inline_svg_for_both_windows(app, client):
    add_runs(app, {}, {"state": "FAILURE"}, {"name": "tasks.flaky"})
    for window in ("hour", "day"):
        body = client.get(f"/history/charts?window={window}").get_data(as_text=True)
        assert "<svg" in body and "seg state-failure" in body and "failure-line" in body
        assert "tasks.flaky" in body


def test_delete_selected_runs(app, client):
    keep, drop = add_runs(app, {}, {})
    response = client.post("/history/bulk/delete", data={"task_id": [drop]}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Deleted 1 run" in response.get_data(as_text=True)
    assert client.get(f"/api/v1/runs/{drop}").status_code == 404
    assert client.get(f"/api/v1/runs/{keep}").status_code == 200
    assert client.delete(f"/api/v1/runs/{keep}", json={}).status_code == 204


def test_mutating_api_requires_json(client):
    assert client.post("/api/v1/runs/x/retry", data="x").status_code == 415


def test_retention_deletes_only_old_runs_in_batches(app):
    from datetime import timedelta

    from sqlalchemy import update

    from dashboard.timeutil import utcnow

    ids = add_runs(app, *[{} for _ in range(7)])
    with app.app_context():
        db.session.execute(
            update(TaskRun)
            .where(TaskRun.task_id.in_(ids[:5]))
            .values(created_at=utcnow() - timedelta(days=40))
        )
        db.session.commit()
        assert store.delete_older_than(db.session, utcnow() - timedelta(days=30), batch=2) == 5
        assert {r.task_id for r in db.session.query(TaskRun)} == set(ids[5:])


PROGRESS_REPORTS = [
    {"meta": {"current": 3, "total": 10}},  # the one that draws a bar: 30 %
    {"meta": {"current": "x", "total": 0}},
    {"meta": {"current": "NaN", "total": "Infinity"}},
    {"meta": [1, 2]},
    [1, 2],
    None,
]


def test_pages_listing_progress_runs_render_whatever_the_task_reported(app, client):
    """Every list that can show a PROGRESS run: the page, its fragment, a filter, a bulk action's answer."""
    ids = add_runs(app, *({"state": "STARTED"} for _ in PROGRESS_REPORTS), {})
    with app.app_context():
        for task_id, report in zip(ids, PROGRESS_REPORTS, strict=False):
            run = db.session.query(TaskRun).filter_by(task_id=task_id).one()
            run.state, run.progress = "PROGRESS", report
        db.session.commit()
    answers = {
        "page": client.get("/history/"),
        "fragment": client.get("/history/", headers={"HX-Request": "true"}),
        "filter": client.get("/history/?state=PROGRESS"),
        "bulk": client.post(
            "/history/bulk/delete", data={"task_id": [ids[-1]]}, headers={"HX-Request": "true"}
        ),
        "row": client.get(f"/history/live?live={ids[0]}", headers={"HX-Request": "true"}),
        "detail": client.get(f"/history/runs/{ids[0]}"),
    }
    for name, response in answers.items():
        assert response.status_code == 200, name
        assert 'value="30"' in response.get_data(as_text=True), name
    for task_id in ids[1 : len(PROGRESS_REPORTS)]:
        assert client.get(f"/history/runs/{task_id}").status_code == 200
        assert client.get(f"/api/v1/runs/{task_id}").status_code == 200
    assert client.get(f"/api/v1/runs/{ids[0]}").get_json()["progress"] == {"current": 3, "total": 10}


def live_poller(html: str) -> str:
    """The URL the newest page's poller asks (history.live)."""
    match = re.search(r'id="history-live"[^>]*hx-get="([^"]+)"', html)
    assert match, "no live poller on the page"
    return match.group(1).replace("&amp;", "&")


def test_the_newest_page_polls_for_new_runs_that_match_its_filter(app, client):
    (old,) = add_runs(app, {"state": "FAILURE"})
    page = client.get("/history/?state=FAILURE").get_data(as_text=True)
    poll = live_poller(page)
    assert client.get(poll, headers={"HX-Request": "true"}).status_code == 204  # nothing new: no swap
    new_failure, new_success = add_runs(app, {"state": "FAILURE"}, {"state": "SUCCESS"})
    answer = client.get(poll, headers={"HX-Request": "true"})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in html
    assert new_failure in html and new_success not in html and old not in html  # the filter holds
    # The answer replaces the poller with one that asks after the new top row.
    assert client.get(live_poller(html), headers={"HX-Request": "true"}).status_code == 204


def test_older_pages_and_an_empty_list_poll_as_they_should(app, client):
    empty = client.get("/history/").get_data(as_text=True)
    assert "No runs match" in empty and 'id="history-live"' in empty  # the first run will show up
    ids = add_runs(app, *({} for _ in range(60)))
    newest = client.get("/history/").get_data(as_text=True)
    older = re.search(r'href="([^"]*before=[^"]*)"', newest).group(1).replace("&amp;", "&")
    assert 'id="history-live"' not in client.get(older).get_data(as_text=True)  # only the newest page
    assert ids[-1] in newest


def test_a_live_list_that_gathered_too_many_rows_is_drawn_again(app, client):
    add_runs(app, {})
    poll = live_poller(client.get("/history/").get_data(as_text=True))
    add_runs(app, {})
    crowded = poll.replace("shown=1", "shown=200")
    answer = client.get(crowded, headers={"HX-Request": "true"})
    assert answer.headers["HX-Retarget"] == "#history-content" and answer.headers["HX-Reswap"] == "outerHTML"
    assert 'id="history-content"' in answer.get_data(as_text=True)


def test_a_bad_live_cursor_is_refused(client):
    assert client.get("/history/live?after=-1", headers={"HX-Request": "true"}).status_code == 422


def test_hostile_live_polls_are_refused_or_bounded_never_a_500(app, client):
    add_runs(app, {"state": "STARTED"})
    hx = {"HX-Request": "true"}
    for query in ("after=1e309&shown=0", "after=Infinity", "after=0&shown=1e309", "after=0&shown=-1"):
        assert client.get(f"/history/live?{query}", headers=hx).status_code == 422, query
    markup = "&".join(["live=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"] * 1000)
    answer = client.get(f"/history/live?{markup}", headers=hx)
    assert answer.status_code == 204  # no such runs: nothing to swap
