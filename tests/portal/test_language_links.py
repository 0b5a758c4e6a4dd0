"""The language links stay under the prefix the dashboard is served under."""

from __future__ import annotations

from html.parser import HTMLParser


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "a" and "lang=" in (values.get("href") or ""):
            self.hrefs.append(values["href"])


def test_language_links_keep_the_mount_prefix(client):
    response = client.get("/queues/", base_url="http://portal.example/ops/celery/")
    assert response.status_code == 200
    parser = _Links()
    parser.feed(response.get_data(as_text=True))
    assert sorted(parser.hrefs) == ["/ops/celery/queues/?lang=en", "/ops/celery/queues/?lang=zh_CN"]
