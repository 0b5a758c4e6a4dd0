"""Every page of the dashboard in both languages, in a real browser.

For each page, English and Simplified Chinese: axe-core in both themes finds no serious or critical
violation; the text a reader meets (visible text and accessible names, after every polled region
has refreshed once) holds no English message of the catalogue on a Chinese page and no Chinese on
an English one; and no polled region is itself a live region (a replaced element is not announced:
polls speak through #poll-announcer instead).
"""

from __future__ import annotations

import re

import pytest

from tests.a11y.conftest import THEMES, describe, listed_pages, run_axe
from tests.i18n.test_pages import _english_phrases, _untranslated

pytestmark = pytest.mark.browser

# Everything a reader meets: visible text, plus the accessible names and hints that are not
# visible text (aria-label, title, placeholder, alt) and the summaries polls announce. Text inside
# an element that says it is in another language (the language links) is left out.
READER_TEXT = """() => {
  const lang = document.documentElement.lang;
  const foreign = el => { const owner = el.closest('[lang]'); return owner && owner.lang !== lang; };
  const parts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!el || foreign(el) || el.closest('script, style, template')) continue;
    if (!el.checkVisibility({visibilityProperty: true})) continue;
    parts.push(node.textContent);
  }
  const names = ['aria-label', 'title', 'placeholder', 'alt', 'data-announce'];
  for (const el of document.querySelectorAll(names.map(name => `[${name}]`).join(', '))) {
    if (foreign(el)) continue;
    for (const name of names) if (el.hasAttribute(name)) parts.push(el.getAttribute(name));
  }
  return parts.join('\\n').replace(/[ \\t]+/g, ' ');
}"""

# Refresh every polled region once, as its next poll would, and wait for the swaps.
REFRESH_POLLED = """async () => {
  const regions = [...document.querySelectorAll('[data-poll-key][hx-get]')];
  await Promise.all(regions.map(region => htmx.ajax('GET', region.getAttribute('hx-get'),
    {source: region, target: region, swap: 'outerHTML'})));
  return regions.length;
}"""

LIVE_POLLED_REGIONS = """() => [...document.querySelectorAll(
  '[data-poll-key][aria-live], [data-poll-key] [aria-live], [data-poll-key][role=status]')]
  .map(el => el.id || el.className || el.tagName)"""

HAN = r"[\u4e00-\u9fff]"


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_every_page_in_both_languages_and_both_themes(
    app, client, page, live_server, detail_pages, zh_catalogue, language
):
    paths = listed_pages(app, client) + detail_pages + ["/no-such-page"]
    assert "/" in paths and "/history/" in paths  # the walk found the area pages
    phrases = _english_phrases(zh_catalogue)
    axe_url = live_server.url + "/static/vendor/axe-core/axe.min.js"
    page.goto(f"/?lang={language}")  # the choice sticks for the pages and polls that follow
    failures, wording, live = [], {}, {}
    refreshed = 0
    for path in paths:
        response = page.goto(path)
        expected = 404 if path == "/no-such-page" else 200
        assert response.status == expected, f"{path} answered {response.status}"
        assert page.evaluate("document.documentElement.lang") == language.replace("_", "-"), path
        refreshed += page.evaluate(REFRESH_POLLED)
        text = page.evaluate(READER_TEXT)
        if language == "zh_CN":
            left = _untranslated(text, phrases)
        else:
            left = sorted({line.strip() for line in text.splitlines() if re.search(HAN, line)})
        if left:
            wording[path] = left
        if found := page.evaluate(LIVE_POLLED_REGIONS):
            live[path] = found
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
    assert refreshed >= 10, "the walk refreshed too few polled regions to mean anything"
    assert not wording, f"text in the wrong language on {language} pages: {wording}"
    assert not live, f"polled regions that are live regions themselves: {live}"
    assert not failures, "axe found serious or critical violations:\n" + "\n".join(failures)
    # The only resource allowed to fail is the deliberately missing page.
    assert [e for e in page.console_errors if "status of 404" not in e] == []
