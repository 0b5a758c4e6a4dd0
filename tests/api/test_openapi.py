"""The contract document: valid OpenAPI 3.1, one operation per API route, right under a prefix."""

from __future__ import annotations

import copy
import re

import jsonschema_rs
import pytest
import schemathesis
from flask import Flask

from dashboard import dashboard as dashboard_blueprint
from dashboard.openapi import api_rules
from tests.api.conftest import IDENTITIES, header_mode_app
from tests.conftest import app_config

VIEWER = IDENTITIES["viewer"]


def _routes(app: Flask, root: str) -> set[tuple[str, str]]:
    """(METHOD, path template) of every API rule in the URL map, paths relative to ``root``."""
    found = set()
    for rule in api_rules(app, root):
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule[len(root) :])
        found.update((method, path) for method in rule.methods - {"HEAD", "OPTIONS"})
    return found


def _documented(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}


@pytest.fixture
def header_app(tmp_path, redis_server, database_url):
    return header_mode_app(tmp_path, redis_server.url, database_url)


def test_document_is_valid_openapi_3_1(header_app):
    document = header_app.test_client().get("/api/v1/openapi.json", headers=VIEWER).get_json()
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    broken = copy.deepcopy(document)
    del broken["paths"]["/tasks"]["get"]["parameters"][0]["in"]  # a parameter must say where it goes
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_every_api_route_has_an_operation(header_app):
    document = header_app.test_client().get("/api/v1/openapi.json", headers=VIEWER).get_json()
    routes = _routes(header_app, "/api/v1")
    assert len(routes) >= 40
    assert routes == _documented(document)
    for rule in api_rules(header_app, "/api/v1"):
        assert hasattr(header_app.view_functions[rule.endpoint], "api_operation"), rule.rule


def test_operations_name_roles_errors_and_the_auth_mode(header_app):
    document = header_app.test_client().get("/api/v1/openapi.json", headers=VIEWER).get_json()
    assert document["security"] == [{"trustedHeader": []}]
    assert document["components"]["securitySchemes"]["trustedHeader"]["name"] == "X-Forwarded-User"
    assert document["components"]["securitySchemes"]["basic"]["scheme"] == "basic"
    paths = document["paths"]
    assert paths["/audit"]["get"]["x-required-role"] == "admin"
    assert paths["/queues/{name}/purge"]["post"]["x-required-role"] == "admin"
    assert paths["/tasks/{name}/run"]["post"]["x-required-role"] == "operator"
    assert paths["/tasks"]["get"]["x-required-role"] == "viewer"
    assert paths["/workers/{hostname}/control"]["post"]["x-required-role"] == "operator"
    run = paths["/tasks/{name}/run"]["post"]
    assert {"201", "202", "400", "403", "404", "415", "422", "503"} <= set(run["responses"])
    assert run["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert paths["/runs/{task_id}"]["delete"]["responses"]["204"] == {"description": "No content"}
    priority = document["components"]["schemas"]["RunBody"]["properties"]["priority"]
    assert {"type": "integer", "minimum": 0, "maximum": 9} in priority["anyOf"]
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"] and "field" in error["properties"]


def test_basic_mode_documents_http_basic_and_its_401(tmp_path, redis_server, database_url):
    from werkzeug.security import generate_password_hash

    users = f"vera:viewer:{generate_password_hash('pw', method='pbkdf2:sha256:1000')}"
    config = app_config(tmp_path, redis_server.url, database_url, "td-api-basic:")
    from dashboard import create_app

    app = create_app({**config, "AUTH_MODE": "basic", "AUTH_BASIC_USERS": users})
    client = app.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 401
    document = client.get("/api/v1/openapi.json", auth=("vera", "pw")).get_json()
    assert document["security"] == [{"basic": []}]
    assert "text/plain" in document["paths"]["/tasks"]["get"]["responses"]["401"]["content"]


def test_document_under_a_host_prefix_has_the_prefixed_server_and_the_same_paths(
    tmp_path, redis_server, database_url, header_app
):
    host = Flask("host")
    host.secret_key = "host-secret"
    config = app_config(tmp_path, redis_server.url, database_url, "td-api-host:")
    config.update(AUTH_MODE="header", AUTH_GROUP_ROLES="td-viewers=viewer")
    host.register_blueprint(dashboard_blueprint, url_prefix="/ops/celery", config=config)
    client = host.test_client()
    assert client.get("/api/v1/openapi.json", headers=VIEWER).status_code == 404
    response = client.get("/ops/celery/api/v1/openapi.json", headers=VIEWER)
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.get_json()
    assert document["servers"] == [{"url": "/ops/celery/api/v1"}]
    assert _documented(document) == _routes(host, "/ops/celery/api/v1")
    plain = header_app.test_client().get("/api/v1/openapi.json", headers=VIEWER).get_json()
    assert set(document["paths"]) == set(plain["paths"])
    # Behind a proxy's SCRIPT_NAME as well.
    mounted = client.get(
        "/ops/celery/api/v1/openapi.json", headers=VIEWER, base_url="http://localhost/portal"
    )
    assert mounted.get_json()["servers"] == [{"url": "/portal/ops/celery/api/v1"}]


def test_reference_page_lists_every_operation(header_app):
    client = header_app.test_client()
    document = client.get("/api/v1/openapi.json", headers=VIEWER).get_json()
    page = client.get("/api/v1/docs", headers=VIEWER)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<script src="http' not in html and "cdn" not in html.lower()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert f'id="{operation["operationId"]}"' in html, (method, path)
            assert f"{method.upper()} /api/v1{path}" in html
    assert "Role needed: admin" in html
    assert "RunBody" in html and "priority" in html


def test_reference_page_renders_in_the_operators_language(header_app):
    page = header_app.test_client().get("/api/v1/docs?lang=zh_CN", headers=VIEWER)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="zh-CN">' in html and "概览" in html
