"""The dashboard's pages as a test sees them: every argument-free GET route, from the URL map."""

from __future__ import annotations

SKIPPED_PREFIXES = ("/api/", "/static/")
PROBES = ("/metrics", "/healthz", "/readyz")


def page_rules(app) -> list:
    """Argument-free GET rules of the HTML side: not the JSON API, static files or probes.

    New pages are covered by every test that walks these, without a list to keep up to date.
    """
    rules = [
        rule
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and not rule.arguments
        and not rule.rule.startswith(SKIPPED_PREFIXES)
        and rule.rule not in PROBES
    ]
    return sorted(rules, key=lambda rule: rule.rule)
