"""Who may see and change what, in each AUTH_MODE."""

import base64

import pytest
from flask import Blueprint, jsonify

from dashboard.extensions import db
from dashboard.portal.models import AuditEntry
from dashboard.portal.permissions import mutation
from tests.portal.conftest import PASSWORDS


def basic(user: str, password: str | None = None) -> dict:
    token = base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def with_probe(app):
    """Add a mutating JSON route that needs the operator role."""
    probe = Blueprint("probe_api", __name__, url_prefix="/api/v1/probe")

    @probe.post("/poke")
    @mutation("operator", "probe.poke")
    def poke():
        return jsonify({"poked": True})

    # As if nested in the dashboard's blueprint: its hooks and error handlers apply.
    app.register_blueprint(probe, name_prefix="taskdeck")
    return app


def audit_rows(app):
    with app.app_context():
        return [
            (e.who, e.role, e.action, e.result) for e in db.session.query(AuditEntry).order_by(AuditEntry.id)
        ]


def test_none_mode_lets_anyone_act_and_says_so(make_app):
    app = make_app()
    html = app.test_client().get("/").get_data(as_text=True)
    assert "AUTH_MODE=none" in html


def test_basic_mode_asks_for_credentials(make_app, basic_users):
    client = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users).test_client()
    response = client.get("/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert client.get("/", headers=basic("vera", "wrong")).status_code == 401
    assert client.get("/", headers=basic("nobody", "x")).status_code == 401
    page = client.get("/", headers=basic("vera"))
    assert page.status_code == 200
    assert "AUTH_MODE=none" not in page.get_data(as_text=True)
    assert "vera · viewer" in page.get_data(as_text=True)


def test_health_endpoints_need_no_credentials(make_app, basic_users):
    client = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users).test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("user", "status", "result"), [("vera", 403, "forbidden"), ("otto", 200, "200"), ("ada", 200, "200")]
)
def test_roles_gate_mutations_and_every_attempt_is_audited(make_app, basic_users, user, status, result):
    app = with_probe(make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users))
    response = app.test_client().post("/api/v1/probe/poke", json={"n": 1}, headers=basic(user))
    assert response.status_code == status
    assert audit_rows(app) == [
        (user, {"vera": "viewer", "otto": "operator", "ada": "admin"}[user], "probe.poke", result)
    ]


def test_header_mode_trusts_headers_only_from_configured_proxies(make_app):
    app = make_app(
        AUTH_MODE="header",
        AUTH_TRUSTED_PROXIES="10.0.0.5/32",
        AUTH_GROUP_ROLES="ops-admins=admin,ops=operator,staff=viewer",
    )
    client = app.test_client()
    headers = {"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "staff, ops-admins"}
    trusted = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.5"})
    assert trusted.status_code == 200
    assert "mallory · admin" in trusted.get_data(as_text=True)
    spoofed = client.get("/", headers=headers, environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert spoofed.status_code == 403
    assert "mallory" not in spoofed.get_data(as_text=True)


def test_header_mode_spoofed_identity_changes_nothing(make_app):
    app = with_probe(
        make_app(AUTH_MODE="header", AUTH_TRUSTED_PROXIES="10.0.0.5", AUTH_GROUP_ROLES="ops=operator")
    )
    response = app.test_client().post(
        "/api/v1/probe/poke",
        json={},
        headers={"X-Forwarded-User": "mallory", "X-Forwarded-Groups": "ops"},
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
    )
    assert response.status_code == 403
    assert audit_rows(app) == []


def test_header_mode_without_a_mapped_group_uses_the_default_role(make_app):
    settings = {"AUTH_MODE": "header", "AUTH_GROUP_ROLES": "ops=operator"}
    headers = {"X-Forwarded-User": "sam", "X-Forwarded-Groups": "finance"}
    local = {"REMOTE_ADDR": "127.0.0.1"}
    assert make_app(**settings).test_client().get("/", headers=headers, environ_base=local).status_code == 403
    page = (
        make_app(AUTH_DEFAULT_ROLE="viewer", **settings)
        .test_client()
        .get("/", headers=headers, environ_base=local)
    )
    assert page.status_code == 200 and "sam · viewer" in page.get_data(as_text=True)


def test_viewer_does_not_see_the_audit_log(make_app, basic_users):
    client = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users).test_client()
    assert client.get("/audit/", headers=basic("vera")).status_code == 403
    assert client.get("/api/v1/audit", headers=basic("otto")).status_code == 403
    assert ">Audit</a>" not in client.get("/", headers=basic("otto")).get_data(as_text=True)
    assert ">Audit</a>" in client.get("/", headers=basic("ada")).get_data(as_text=True)
    assert client.get("/audit/", headers=basic("ada")).status_code == 200


@pytest.mark.parametrize(
    "settings",
    [
        {"AUTH_MODE": "magic"},
        {"AUTH_MODE": "basic", "AUTH_BASIC_USERS": ""},
        {"AUTH_MODE": "basic", "AUTH_BASIC_USERS": "x:superuser:hash"},
        {"AUTH_GROUP_ROLES": "ops=root"},
        {"AUTH_TRUSTED_PROXIES": "not-an-address"},
        {"AUTH_DEFAULT_ROLE": "root"},
    ],
)
def test_bad_auth_configuration_is_refused_at_start(make_app, settings):
    with pytest.raises(ValueError):
        make_app(**settings)


def test_a_session_verified_once_still_refuses_other_credentials(make_app, basic_users):
    client = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users).test_client()
    assert client.get("/", headers=basic("vera")).status_code == 200
    # The verified session is bound to those exact credentials: a wrong password or another
    # user's name with the same cookie is checked afresh and refused.
    assert client.get("/", headers=basic("vera", "wrong")).status_code == 401
    assert client.get("/", headers=basic("ada", "viewer-pw")).status_code == 401
    assert "vera · viewer" in client.get("/", headers=basic("vera")).get_data(as_text=True)


def test_a_new_password_invalidates_a_session_verified_with_the_old_one(make_app, basic_users):
    from werkzeug.security import generate_password_hash

    first = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users)
    client = first.test_client()
    assert client.get("/", headers=basic("vera")).status_code == 200
    verified = client.get_cookie("session")
    assert verified is not None
    changed = f"vera:viewer:{generate_password_hash('new-pw', method='pbkdf2:sha256:1000')}"
    # Same SECRET_KEY, new users setting, and the session cookie from before the change.
    later = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=changed).test_client()
    later.set_cookie("session", verified.value, domain=verified.domain, path=verified.path)
    assert later.get("/", headers=basic("vera")).status_code == 401
