"""Page-level finish: every live page has its interval picker; empty states say what to do next."""

from __future__ import annotations

import re

from tests.a11y.conftest import listed_pages


def test_every_polled_page_offers_a_poll_interval_control_for_each_polled_key(app, client, detail_pages):
    checked = 0
    for path in listed_pages(app, client) + detail_pages:
        html = client.get(path).get_data(as_text=True)
        polled = set(re.findall(r'data-poll-key="([^"]+)"', html))
        controls = set(re.findall(r'data-poll-control="([^"]+)"', html))
        assert polled <= controls, f"{path} polls {sorted(polled - controls)} without an interval control"
        checked += bool(polled)
    assert checked >= 5  # overview, queues, staging, schedules, history, workers...


def test_relative_times_carry_the_exact_time_and_a_machine_readable_datetime(app):
    from datetime import UTC, datetime, timedelta

    from dashboard.display import reltime

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with app.test_request_context("/?lang=en"):
        html = str(reltime(now - timedelta(minutes=3), now=now))
        assert html.startswith('<time datetime="2026-01-02T03:01:05+00:00" title="')
        assert "3 minutes ago</time>" in html
        assert str(reltime("2026-01-02T03:01:05", now=now)) == html  # ISO text, naive means UTC
        assert reltime(None) == "" and reltime("not a time") == "not a time"
