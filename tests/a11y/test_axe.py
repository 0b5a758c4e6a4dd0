"""axe-core on every page of the dashboard in both themes: no serious or critical violations."""

from __future__ import annotations

import pytest

from tests.a11y.conftest import THEMES, describe, listed_pages, run_axe

pytestmark = pytest.mark.browser


def test_every_page_in_both_themes_has_no_serious_or_critical_axe_violations(
    app, client, page, live_server, detail_pages
):
    paths = listed_pages(app, client) + detail_pages + ["/no-such-page"]
    assert "/" in paths and "/history/" in paths  # the walk found the area pages
    axe_url = live_server.url + "/static/vendor/axe-core/axe.min.js"
    failures = []
    for path in paths:
        response = page.goto(path)
        expected = 404 if path == "/no-such-page" else 200
        assert response.status == expected, f"{path} answered {response.status}"
        for label, scheme, data_theme in THEMES:
            page.emulate_media(color_scheme=scheme)
            page.evaluate(
                "t => { const root = document.documentElement;"
                " if (t) root.dataset.theme = t; else delete root.dataset.theme; }",
                data_theme,
            )
            found = run_axe(page, axe_url)
            if found:
                failures.append(describe(path, label, found))
    assert not failures, "axe found serious or critical violations:\n" + "\n".join(failures)
    # The only resource allowed to fail is the deliberately missing page.
    assert [e for e in page.console_errors if "status of 404" not in e] == []
