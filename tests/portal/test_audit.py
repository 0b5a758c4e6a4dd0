"""The audit log page and API: newest first, filtered, paged by keyset."""

import json
from datetime import timedelta

import pytest

from dashboard.extensions import db
from dashboard.portal.models import AuditEntry
from dashboard.portal.service import AuditFilter, Identity, audit_page, prune_audit, record_audit
from dashboard.timeutil import utcnow


def fill(app, count=7):
    with app.app_context():
        for n in range(count):
            who = Identity("ada", "admin") if n % 2 else Identity("otto", "operator")
            record_audit(
                db.session,
                who,
                "staging.move" if n % 3 else "task.run",
                target=f"id={n}",
                params={"n": n, "html": "<script>x</script>"},
                result="200",
            )


def test_audit_page_lists_newest_first_with_filters_and_escaping(app, client):
    fill(app)
    html = client.get("/audit/").get_data(as_text=True)
    assert html.index("id=6") < html.index("id=0")
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    only_ada = client.get("/audit/?who=ada", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "id=1" in only_ada and "id=0" not in only_ada and "<html" not in only_ada


def test_audit_api_pages_by_cursor_without_gaps_or_repeats(app, client):
    fill(app, 7)
    seen, cursor = [], None
    while True:
        body = client.get(
            "/api/v1/audit", query_string={"limit": 3, **({"before": cursor} if cursor else {})}
        ).get_json()
        seen += [e["target"] for e in body["entries"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"id={n}" for n in range(6, -1, -1)]


def test_action_filter_is_a_prefix_match(app):
    fill(app, 6)
    with app.app_context():
        rows, _ = audit_page(db.session, AuditFilter(action="task."))
        assert {r.action for r in rows} == {"task.run"}


def test_prune_deletes_only_rows_older_than_retention(app):
    fill(app, 3)
    with app.app_context():
        old = db.session.get(AuditEntry, 1)
        old.at = utcnow() - timedelta(days=100)
        db.session.commit()
        assert prune_audit(db.session, retention_days=90) == 1
        assert db.session.query(AuditEntry).count() == 2


# A lone surrogate is valid JSON ("\ud800") but no Unicode text: the body is sent as raw JSON text,
# and refused naming the member that holds it.
SURROGATE_BODIES = [
    ('{"args": ["\\ud800", "x"], "submission": "direct"}', "args"),
    ('{"args": ["x", "y"], "submission": "staged", "note": "\\ud800 \\udc00 nul\\u0000"}', "note"),
]


@pytest.mark.parametrize(("body", "field"), SURROGATE_BODIES)
def test_a_lone_surrogate_in_the_body_is_refused_and_the_refusal_audited_safely(
    app, client, redis_client, key_prefix, body, field
):
    from tests.registry.conftest import broker_lists

    waiting = sum(redis_client.llen(key) for key in broker_lists("celery"))
    response = client.post("/api/v1/tasks/tasks.add/run", data=body, content_type="application/json")
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["field"] == field and "lone surrogate" in response.get_json()["error"]
    assert sum(redis_client.llen(key) for key in broker_lists("celery")) == waiting  # nothing sent
    assert list(redis_client.scan_iter(match=f"{key_prefix}staging:*")) == []  # nothing staged
    with app.app_context():
        entry = db.session.query(AuditEntry).one()
        assert (entry.action, entry.result, entry.target) == ("task.run", "refused 422", "name=tasks.add")
        assert "\\ud800" in entry.params  # the body as sent: the escape, as text
        assert "\ud800" not in entry.params and "\x00" not in entry.params
        entry.params.encode("utf-8")
    listed = client.get("/api/v1/audit").get_json()["entries"]
    assert listed[0]["params"] == entry.params


def test_record_audit_stores_any_request_text_within_its_columns(app, client):
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with app.app_context():
        record_audit(
            db.session,
            Identity("eve\ud800", "admin"),
            "task.run",
            target="id=\x00\udfff" + "t" * 1000,
            params={"deep": deep, "\ud800": "\u200f\x07"},
            result="200\ud800",
            request_id="r" * 100,
        )
        entry = db.session.query(AuditEntry).one()
        assert entry.who == "eve\ufffd" and entry.result == "200\ufffd"
        assert entry.target.startswith("id=\ufffd\ufffdttt") and len(entry.target) == 512
        assert len(entry.request_id) == 64
        params = json.loads(entry.params)
        assert params["\ufffd"] == "\u200f\x07"  # RTL mark and BEL kept: the page escapes them
    assert client.get("/audit/").status_code == 200
