"""Schemathesis against the served contract: every operation, as an admin and as a viewer.

The app runs behind a real HTTP server on the suite's real Redis, with a real worker. Control
commands (shutdown and pool restart included) only ever reach ``control_worker``, a worker this
module starts for them: the document's ``hostname`` of the control operation is narrowed to it
before generation, because ``*`` or the shared worker's name would stop or reshape the worker
the rest of the suite uses.
"""

from __future__ import annotations

import copy

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import IDENTITIES

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONTROL = "/workers/{hostname}/control"
EXAMPLES = 80  # per operation and role: the module stays within a few minutes on two cores


def _seed(base: str, headers: dict) -> dict[str, list]:
    """A schedule, a staged item and a run, so generated requests can also meet real objects."""
    post = {**headers, "Content-Type": "application/json"}
    schedule = requests.post(
        f"{base}/schedules",
        json={"name": "nightly", "task": "tasks.add", "kind": "cron", "cron": "0 3 * * *", "args": [1, 2]},
        headers=post,
        timeout=10,
    )
    assert schedule.status_code == 201, schedule.text
    staged = requests.post(
        f"{base}/staging", json={"task": "tasks.add", "args": [1, 1]}, headers=post, timeout=10
    )
    assert staged.status_code == 201, staged.text
    run = requests.post(f"{base}/tasks/tasks.add/run", json={"args": [2, 2]}, headers=post, timeout=10)
    assert run.status_code == 202, run.text
    return {
        "schedule_id": [schedule.json()["id"]],
        "item_id": [staged.json()["id"]],
        "task_id": [run.json()["task_id"]],
        "name": ["tasks.add", run.json()["queue"] or "celery"],
    }


def _with_examples(document: dict, examples: dict[str, list], control_host: str) -> dict:
    document = copy.deepcopy(document)
    for path, methods in document["paths"].items():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in examples:
                    parameter["examples"] = {
                        f"seeded{i}": {"value": value} for i, value in enumerate(examples[parameter["name"]])
                    }
            if path == CONTROL:
                for parameter in operation["parameters"]:
                    if parameter["name"] == "hostname":
                        parameter["schema"] = {"enum": [control_host]}
    return document


@pytest.fixture(scope="module")
def api_schema(api_server, control_worker):
    base = f"{api_server.url}/api/v1"
    document = requests.get(f"{base}/openapi.json", headers=IDENTITIES["viewer"], timeout=10).json()
    examples = _seed(base, IDENTITIES["admin"])
    schema = schemathesis.openapi.from_dict(_with_examples(document, examples, control_worker.hostname))
    schema.config.update(base_url=base)
    return schema


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every documented operation, from an app built only to read its URL map."""
    from dashboard import create_app
    from dashboard.openapi import build_document

    app = create_app({"TESTING": True, "SECRET_KEY": "x", "DATABASE_URL": "sqlite://"})
    with app.test_request_context():
        document = build_document(app, "/api/v1", "/api/v1")
    return [(method.upper(), path) for path, methods in document["paths"].items() for method in methods]


OPERATIONS = _operations()


@pytest.mark.parametrize("role", ["admin", "viewer"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_keeps_its_contract(api_schema, method, path, role):
    operation = api_schema[path][method]
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        *api_schema.get_strategies_from_examples(operation),  # the seeded ids
    )

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def check(case):
        case.call_and_validate(headers=IDENTITIES[role], checks=CHECKS, timeout=20)

    check()
