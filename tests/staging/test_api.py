"""The JSON API and the page: changes answer with the new version; bad input is a clear 4xx and
leaves the list exactly as it was."""

from __future__ import annotations

import pytest

from dashboard.staging.keys import StagingKeys


@pytest.fixture
def snapshot(app, redis_client):
    keys = StagingKeys(app.config["TASKDECK_KEY_PREFIX"])
    return lambda: (
        redis_client.zrange(keys.order, 0, -1, withscores=True),
        redis_client.hgetall(keys.items),
        redis_client.get(keys.version),
    )


def test_add_list_move_remove_through_the_api(client, order):
    ids = [
        client.post("/api/v1/staging", json={"task": "tasks.add", "args": [i, 1]}).get_json()["id"]
        for i in range(3)
    ]
    assert order() == ids
    response = client.post(f"/api/v1/staging/{ids[2]}/move", json={"before": ids[0]})
    assert response.status_code == 200
    assert order() == [ids[2], ids[0], ids[1]]
    listed = client.get("/api/v1/staging").get_json()
    assert [i["id"] for i in listed["items"]] == order()
    assert listed["version"] == response.get_json()["version"]
    assert client.delete(f"/api/v1/staging/{ids[0]}", json={}).status_code == 200
    assert order() == [ids[2], ids[1]]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("post", "/api/v1/staging/no-such-item/move", {"position": "top"}, 404, "id"),
        ("post", "/api/v1/staging/{first}/move", {"before": "not-in-list"}, 422, "before"),
        ("post", "/api/v1/staging/{first}/move", {"after": "not-in-list"}, 422, "before"),
        ("post", "/api/v1/staging/{first}/move", {"position": "sideways"}, 422, "position"),
        ("post", "/api/v1/staging/{first}/move", {"before": ["x"]}, 422, "before"),
        ("delete", "/api/v1/staging/no-such-item", {}, 404, "id"),
        ("post", "/api/v1/staging/no-such-item/release", {}, 404, "id"),
        ("post", "/api/v1/staging", {"task": "tasks.nope"}, 404, "task"),
        ("post", "/api/v1/staging", {"task": "tasks.add", "args": "1, 2"}, 422, "args"),
        ("post", "/api/v1/staging", {"task": "tasks.add", "args": [1]}, 422, "args"),
        (
            "post",
            "/api/v1/staging",
            {"task": "tasks.add", "args": [1, 2], "options": {"priority": 12}},
            422,
            "priority",
        ),
        (
            "post",
            "/api/v1/staging",
            {"task": "tasks.add", "args": [1, 2], "options": {"eta": "soon"}},
            422,
            "eta",
        ),
        (
            "post",
            "/api/v1/staging",
            {"task": "tasks.add", "args": [1, 2], "options": {"bogus": 1}},
            422,
            "bogus",
        ),
        ("post", "/api/v1/staging", {"task": "tasks.add", "args": ["x" * 70000, "y"]}, 422, "args"),
        ("post", "/api/v1/staging", {"task": "tasks.add", "args": [1, 2], "id": "{first}"}, 409, "id"),
        ("post", "/api/v1/staging", {"task": "tasks.add", "args": [1, 2], "mode": "later"}, 422, "mode"),
        ("put", "/api/v1/staging/dispatcher", {"low_water": 0}, 422, "low_water"),
        ("put", "/api/v1/staging/dispatcher", {"state": "asleep"}, 422, "state"),
    ],
)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    client, stage, snapshot, method, path, body, status, field
):
    first, _second = stage(2)
    path = path.format(first=first)
    body = {k: (v.format(first=first) if isinstance(v, str) else v) for k, v in body.items()}
    before = snapshot()
    response = getattr(client, method)(path, json=body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["field"] == field
    assert response.get_json()["error"]
    assert snapshot() == before


def test_malformed_json_body_is_refused(client, stage, snapshot):
    stage(1)
    before = snapshot()
    response = client.post("/api/v1/staging", data="[1, 2", content_type="application/json")
    assert response.status_code == 400
    response = client.post("/api/v1/staging", data="task=tasks.add")
    assert response.status_code == 415
    assert snapshot() == before


def test_stale_version_in_the_api_is_a_409(client, stage, order):
    a, b = stage(2)
    response = client.post(f"/api/v1/staging/{b}/move", json={"position": "top", "version": 0})
    assert response.status_code == 409
    assert order() == [a, b]


def test_release_through_the_api_records_the_origin(app, client, stage, redis_client):
    (item_id,) = stage(1, queue="staging-api-release")
    response = client.post(f"/api/v1/staging/{item_id}/release", json={})
    assert response.get_json()["task_id"] == item_id
    assert redis_client.llen("staging-api-release") == 1
    redis_client.delete("staging-api-release")
    with app.app_context():
        from dashboard.core.runs import TaskRun
        from dashboard.extensions import db

        run = db.session.query(TaskRun).filter_by(task_id=item_id).one()
        assert (run.origin, run.origin_ref) == ("staging", item_id)


def test_dispatcher_policy_round_trips(client):
    assert client.get("/api/v1/staging/dispatcher").get_json()["state"] == "running"
    body = client.put(
        "/api/v1/staging/dispatcher", json={"state": "paused", "low_water": 5, "max_rate": 2}
    ).get_json()
    assert body == {"state": "paused", "low_water": 5, "max_rate": 2.0}


def test_page_lists_items_with_keyboard_controls_and_version(client, stage):
    ids = stage(2)
    html = client.get("/staging/").get_data(as_text=True)
    for item_id in ids:
        assert f'data-id="{item_id}"' in html
        assert f'aria-label="Move {item_id} up"' in html
    assert 'data-testid="staging-version">2<' in html


def test_keyboard_form_without_javascript_moves_and_redirects(client, stage, order):
    a, b = stage(2)
    response = client.post(f"/staging/{b}/move", data={"position": "up", "version": "2"})
    assert response.status_code == 303
    assert order() == [b, a]


def test_drop_answers_with_the_list_and_flags_a_stale_page(client, stage, order):
    a, b, c = stage(3)
    response = client.post(
        f"/staging/{c}/move", data={"before": a, "after": "", "version": "1"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.startswith('<section id="staging-list-region"')
    assert "changed since you loaded it" in html
    assert order() == [c, a, b]


def test_drop_on_a_vanished_neighbour_is_refused_with_the_current_list(client, stage, order):
    a, b = stage(2)
    response = client.post(
        f"/staging/{b}/move", data={"before": "gone", "after": "gone-too"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    assert "neighbour is not in the staging list" in response.get_data(as_text=True)
    assert order() == [a, b]


def test_poll_answers_204_when_nothing_changed(client, stage):
    stage(1)
    assert client.get("/staging/list?since=1", headers={"HX-Request": "true"}).status_code == 204
    assert client.get("/staging/list?since=0", headers={"HX-Request": "true"}).status_code == 200


def test_edit_form_shows_the_error_next_to_the_field_and_changes_nothing(client, stage, snapshot):
    (item_id,) = stage(1)
    before = snapshot()
    response = client.post(f"/staging/{item_id}/edit", data={"args": "[1", "kwargs": "{}"})
    assert response.status_code == 422
    assert "not valid JSON" in response.get_data(as_text=True)
    assert snapshot() == before
    response = client.post(
        f"/staging/{item_id}/edit", data={"args": "[5, 6]", "kwargs": "{}", "note": "later"}
    )
    assert response.status_code == 303
    assert client.get("/api/v1/staging").get_json()["items"][0]["args"] == [5, 6]
