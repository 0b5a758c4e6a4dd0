"""Errors grouped: failures whose exceptions differ only in numbers, ids or addresses are one
group with counts, first and last seen and the tasks affected; "retry all" sends the group's
failed runs again, each linked to the run it retries."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.core.runs import TaskRun
from dashboard.extensions import db
from dashboard.history import errors
from tests.history.test_pages import add_runs


@pytest.mark.parametrize(
    "one, other",
    [
        ("ConnectionError('attempt 1 failed')", "ConnectionError('attempt 22 failed')"),
        (
            "KeyError('job 3f2a1b2c-1111-2222-3333-444455556666')",
            "KeyError('job 00000000-aaaa-bbbb-cccc-dddddddddddd')",
        ),
        ("TimeoutError: timed out after 30.5s", "TimeoutError: timed out after 2s"),
        ("RuntimeError('<object at 0x7f00ab>')", "RuntimeError('<object at 0x1>')"),
    ],
)
def test_what_varies_from_run_to_run_does_not_split_a_group(one, other):
    assert errors.group_key(one) == errors.group_key(other)


@pytest.mark.parametrize(
    "one, other",
    [
        ("ConnectionError('refused')", "TimeoutError('refused')"),
        ("ValueError('bad input')", "ValueError('bad output')"),
    ],
)
def test_another_type_or_message_is_another_group(one, other):
    assert errors.group_key(one) != errors.group_key(other)


def test_the_errors_page_groups_counts_and_retries_a_group(app, client):
    flaky = [
        {
            "state": "FAILURE",
            "name": "tasks.sync_partner",
            "exception": f"ConnectionError('partner {n} down')",
        }
        for n in range(3)
    ]
    other = [{"state": "FAILURE", "name": "tasks.add", "exception": "ConnectionError('partner 9 down')"}]
    odd = [
        {"state": "FAILURE", "name": "tasks.add", "exception": "ValueError('<img src=x onerror=alert(1)>')"}
    ]
    fine = [{"state": "SUCCESS"}]
    ids = add_runs(app, *flaky, *other, *odd, *fine)

    body = client.get("/api/v1/runs/errors?window=day").get_json()
    first, second = body["groups"]
    assert (first["type"], first["pattern"], first["count"]) == ("ConnectionError", "partner <n> down", 4)
    assert first["tasks"] == {"tasks.sync_partner": 3, "tasks.add": 1}
    assert first["example"]["id"] == ids[3] and first["first_seen"] <= first["last_seen"]
    assert (second["type"], second["count"]) == ("ValueError", 1)

    page = client.get("/history/errors").get_data(as_text=True)
    assert "partner &lt;n&gt; down" in page and "<img src=x" not in page
    listed = client.get(f"/api/v1/runs?q=error:{first['key']}").get_json()["runs"]
    assert sorted(r["id"] for r in listed) == sorted(ids[:4])

    assert client.get("/api/v1/runs/errors?window=year").status_code == 422
    refused = client.post("/api/v1/runs/errors/not-a-key/retry", json={})
    assert refused.status_code == 422 and refused.get_json()["field"] == "key"

    retried = client.post(f"/api/v1/runs/errors/{first['key']}/retry", json={"window": "day"})
    assert retried.status_code == 202
    new_ids = retried.get_json()["retried"]
    assert len(new_ids) == 4
    with app.app_context():
        sources = set(db.session.scalars(select(TaskRun.retry_of).where(TaskRun.task_id.in_(new_ids))))
    assert sources == set(ids[:4])
