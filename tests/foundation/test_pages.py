"""Every area answers with a full page, and with only its fragment for HTMX."""

import pytest

PAGES = ["/", "/tasks/", "/queues/", "/staging/", "/schedules/", "/history/", "/workers/"]


@pytest.mark.parametrize("url", PAGES)
def test_page_renders_full_with_navigation(client, url):
    response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.startswith("<!doctype html>")
    for label in ("Overview", "Tasks", "Queues", "Staging", "Schedules", "History", "Workers"):
        assert f">{label}</a>" in html
    assert 'name="csrf-token"' in html
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("url", PAGES)
def test_htmx_request_gets_the_fragment_only(client, url):
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'aria-label="Areas"' not in html
    assert html.strip()
    assert "HX-Request" in response.headers["Vary"]


def test_boosted_navigation_gets_the_full_page(client):
    response = client.get("/queues/", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert response.get_data(as_text=True).startswith("<!doctype html>")


def test_overview_tiles_report_redis_and_database(client):
    html = client.get("/").get_data(as_text=True)
    assert 'id="tile-redis"' in html and 'id="tile-database"' in html
    tile = client.get("/overview/tiles/redis", headers={"HX-Request": "true"})
    assert tile.status_code == 200
    assert "status-ok" in tile.get_data(as_text=True)
    assert tile.headers["Cache-Control"] == "no-store"


def test_unknown_tile_is_404(client):
    assert client.get("/overview/tiles/nothing").status_code == 404


def test_auth_off_banner_is_shown(client):
    assert "AUTH_MODE=none" in client.get("/").get_data(as_text=True)


def test_api_refuses_mutation_without_json_content_type(client):
    response = client.post("/api/v1/nothing-here", data="x=1")
    assert response.status_code in (404, 415)


def test_overview_shows_the_history_charts(client):
    html = client.get("/").get_data(as_text=True)
    assert 'id="history-charts"' in html and "<svg" in html


def test_an_address_nothing_serves_gets_the_dashboards_page_in_the_chosen_language(client):
    english = client.get("/no-such-page")
    assert english.status_code == 404
    assert "Page not found" in english.get_data(as_text=True)
    assert "script-src 'self'" in english.headers["Content-Security-Policy"]
    chinese = client.get("/no-such-page", query_string={"lang": "zh_CN"}).get_data(as_text=True)
    assert '<html lang="zh-CN"' in chinese and "页面不存在" in chinese
    assert 'class="brand"' in chinese  # the header, to get back


def test_an_api_address_nothing_serves_answers_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.get_json() == {"error": "not found"}
