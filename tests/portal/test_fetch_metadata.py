"""Fetch metadata on every mutation: a change sent from another site is refused with 403, audited,
and changes nothing, CSRF token or not; the same origin (and a configured portal) passes."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.portal.test_every_mutating_route import audit_results, mutating_routes, state


def send(client, method: str, path: str, endpoint: str, headers: dict):
    if endpoint.split(".")[0].endswith("_api"):
        return client.open(path, method=method, json={}, headers=headers)
    return client.open(path, method=method, data={"a": "1"}, headers=headers)


@pytest.mark.parametrize(
    ("headers", "result"),
    [
        ({"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, "refused cross-site"),
        ({"Sec-Fetch-Site": "same-site", "Origin": "https://other.example.com"}, "refused same-site"),
        ({"Origin": "https://evil.example"}, "refused cross-origin"),  # a browser without the header
    ],
    ids=["cross-site", "same-site", "foreign Origin only"],
)
def test_every_mutation_from_another_site_is_refused_audited_and_changes_nothing(
    app, client, redis_client, headers, result
):
    before = state(app, redis_client)
    routes = list(mutating_routes(app))
    for method, path, endpoint in routes:
        response = send(client, method, path, endpoint, headers)
        assert response.status_code == 403, (method, path, response.status_code)
    assert state(app, redis_client) == before
    audited = audit_results(app)
    assert len(audited) == len(routes)
    assert {r for _, r in audited} == {result}


def test_the_refusal_says_why_in_the_api_and_on_a_page(client):
    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    api = client.put("/api/v1/staging/dispatcher", json={"low_water": 2}, headers=cross)
    assert api.status_code == 403 and "another site" in api.get_json()["error"]
    page = client.post("/staging/dispatcher", data={"low_water": "2"}, headers=cross)
    assert page.status_code == 403 and "another site" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
        {"Sec-Fetch-Site": "none"},  # typed or bookmarked by the user
        {"Origin": "http://localhost"},  # the dashboard's own origin, no fetch metadata
        {},  # not a browser (a script with its own credentials)
    ],
    ids=["same-origin", "user-initiated", "own Origin only", "no browser headers"],
)
def test_a_change_from_the_dashboard_itself_passes(app, client, headers):
    response = client.put("/api/v1/staging/dispatcher", json={"low_water": 2}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert audit_results(app)[-1][1] == "200"


def test_a_configured_portal_origin_may_send_same_site_changes(make_app):
    app = make_app(TRUSTED_ORIGINS="https://portal.example.com, https://ops.example.com/")
    app.test_client_class = FlaskClient
    client = app.test_client()
    portal = {"Sec-Fetch-Site": "same-site", "Origin": "https://ops.example.com"}
    assert client.put("/api/v1/staging/dispatcher", json={"low_water": 2}, headers=portal).status_code == 200
    # ...but never a cross-site one, and never another sibling.
    sibling = {"Sec-Fetch-Site": "same-site", "Origin": "https://blog.example.com"}
    assert client.put("/api/v1/staging/dispatcher", json={"low_water": 2}, headers=sibling).status_code == 403
    cross = {"Sec-Fetch-Site": "cross-site", "Origin": "https://ops.example.com"}
    assert client.put("/api/v1/staging/dispatcher", json={"low_water": 2}, headers=cross).status_code == 403
