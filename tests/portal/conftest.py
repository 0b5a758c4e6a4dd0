"""Apps configured for each auth mode, sharing the suite's Redis and a migrated database."""

import pytest
from werkzeug.security import generate_password_hash

from dashboard import create_app
from tests.conftest import app_config
from tests.staging.conftest import order, stage  # noqa: F401 - shared fixtures

PASSWORDS = {"vera": "viewer-pw", "otto": "operator-pw", "ada": "admin-pw"}
ROLES = {"vera": "viewer", "otto": "operator", "ada": "admin"}


@pytest.fixture(scope="session")
def basic_users() -> str:
    # A cheap hash method keeps the suite fast; production uses werkzeug's default (scrypt).
    return ",".join(
        f"{user}:{ROLES[user]}:{generate_password_hash(pw, method='pbkdf2:sha256:1000')}"
        for user, pw in PASSWORDS.items()
    )


@pytest.fixture
def make_app(tmp_path, redis_server, database_url, key_prefix):
    def make(**settings):
        config = app_config(tmp_path, redis_server.url, database_url, key_prefix)
        config.update(settings)
        return create_app(config)

    return make


@pytest.fixture
def mount_configs(tmp_path, redis_server, database_url, other_database_url, key_prefix):
    first = app_config(tmp_path, redis_server.url, database_url, key_prefix)
    second = app_config(tmp_path, redis_server.url, other_database_url, key_prefix.rstrip(":") + "-batch:")
    for config in (first, second):
        del config["SECRET_KEY"]  # the host's applies
    return first, second


def run_tasks_add(frame) -> None:
    """On a framed tasks.add page: run it with 4 and 5 and wait for the 9 the worker answers."""
    from playwright.sync_api import expect

    frame.get_by_label("x: int").fill("4")
    frame.get_by_label("y: int").fill("5")
    frame.get_by_role("button", name="Run tasks.add").click()
    expect(frame.locator(".run-state .state")).to_have_text("SUCCESS", timeout=30_000)
    expect(frame.locator(".run-state .run-result")).to_have_text("9")
