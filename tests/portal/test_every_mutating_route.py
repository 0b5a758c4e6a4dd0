"""Every mutating route, walked from the URL map: refused without CSRF, as a viewer and with a
spoofed identity, and in each case nothing in Redis or SQL changes (but the audit row)."""

import base64

import pytest
from sqlalchemy import inspect, text

from dashboard.api import MUTATING
from dashboard.extensions import db
from tests.portal.conftest import PASSWORDS

# A value for each URL converter; any value reaches the guards, which run before the view.
CONVERTER_VALUES = {"IntegerConverter": 1, "PathConverter": "tasks.add"}


def mutating_routes(app):
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        methods = sorted(set(rule.methods or ()) & MUTATING)
        if not methods or rule.endpoint.endswith("static"):
            continue
        values = {
            name: CONVERTER_VALUES.get(type(conv).__name__, "x") for name, conv in rule._converters.items()
        }
        path = adapter.build(rule.endpoint, values)
        for method in methods:
            yield method, path, rule.endpoint


def state(app, client_redis) -> tuple:
    """Everything a mutation could change: every persistent Redis key (staged work, broker lists,
    policies; keys with a TTL are caches, locks and heartbeats that come and go on their own) and
    every SQL table but the audit log."""
    digest = {}
    for key in client_redis.scan_iter(count=1000):
        if client_redis.ttl(key) == -1:
            digest[key] = client_redis.dump(key)
    with app.app_context():
        tables = sorted(
            t for t in inspect(db.engine).get_table_names() if t not in ("audit_log", "alembic_version")
        )
        rows = {t: db.session.execute(text(f"SELECT * FROM {t}")).all() for t in tables}  # noqa: S608
        db.session.remove()
    return digest, rows


def audit_results(app) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(text("SELECT action, result FROM audit_log ORDER BY id")).all()
        db.session.remove()
    return [tuple(r) for r in rows]


def basic(user: str) -> dict:
    token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_there_are_mutating_routes_to_check(app):
    assert len(list(mutating_routes(app))) > 40


def test_without_a_csrf_token_every_browser_mutation_is_refused_and_changes_nothing(
    app, raw_client, redis_client
):
    before = state(app, redis_client)
    for method, path, endpoint in mutating_routes(app):
        if endpoint.rpartition(".")[0].endswith("_api"):
            # The JSON API's guard: a cross-site form cannot send application/json.
            response = raw_client.open(
                path, method=method, data="a=1", content_type="application/x-www-form-urlencoded"
            )
            assert response.status_code == 415, (method, path, response.status_code)
        else:
            response = raw_client.open(path, method=method, data={"a": "1"})
            assert response.status_code == 400, (method, path, response.status_code)
    assert state(app, redis_client) == before
    assert audit_results(app) == []


def test_as_a_viewer_every_mutation_is_forbidden_audited_once_and_changes_nothing(
    make_app, basic_users, redis_client
):
    app = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    before = state(app, redis_client)
    routes = list(mutating_routes(app))
    expected = []
    for method, path, endpoint in routes:
        view = app.view_functions[endpoint]
        body = {}
        if getattr(view, "delegates_to", None):
            # A route that picks one of several guarded views: try each of them.
            for command, target in view.delegates_to.items():
                response = client.open(path, method=method, json={"command": command}, headers=basic("vera"))
                assert response.status_code == 403, (method, path, command, response.status_code)
                expected.append((target.audit_action, "forbidden"))
            continue
        response = client.open(path, method=method, json=body, headers=basic("vera"))
        assert response.status_code == 403, (method, path, response.status_code)
        expected.append((view.audit_action, "forbidden"))
    assert state(app, redis_client) == before
    assert audit_results(app) == expected


@pytest.mark.parametrize("peer", ["192.0.2.7", "10.9.9.9"])
def test_a_spoofed_identity_header_from_an_untrusted_peer_changes_nothing(make_app, redis_client, peer):
    app = make_app(
        AUTH_MODE="header",
        AUTH_TRUSTED_PROXIES="127.0.0.1",
        AUTH_GROUP_ROLES="ops-admins=admin",
        WTF_CSRF_ENABLED=False,
    )
    client = app.test_client()
    before = state(app, redis_client)
    spoof = {"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "ops-admins"}
    for method, path, _ in mutating_routes(app):
        response = client.open(
            path, method=method, json={}, headers=spoof, environ_base={"REMOTE_ADDR": peer}
        )
        assert response.status_code == 403, (method, path, response.status_code)
    assert state(app, redis_client) == before
    assert audit_results(app) == []
