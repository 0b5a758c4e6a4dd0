"""Migrations build the schema; the models and the migrations never drift apart."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import create_engine, inspect

from dashboard import create_app
from dashboard.extensions import db
from dashboard.mount import BIND_KEY
from tests.conftest import app_config
from tests.support.servers import ROOT


def test_migrations_apply_on_an_empty_database_and_match_the_models(
    tmp_path, redis_server, empty_database_url
):
    app = create_app(app_config(tmp_path, redis_server.url, empty_database_url, "td-mig:"))
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"), revision="heads")
        tables = set(inspect(db.engine).get_table_names())
        assert {"task_runs", "audit_log", "alembic_version"} <= tables
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadatas[BIND_KEY])
        assert diff == [], f"models differ from migrations: {diff}"
        db.engine.dispose()


def test_app_start_does_not_create_tables(tmp_path, redis_server, empty_database_url):
    app = create_app(app_config(tmp_path, redis_server.url, empty_database_url, "td-mig:"))
    app.test_client().get("/readyz")
    engine = create_engine(empty_database_url)
    assert inspect(engine).get_table_names() == []
    engine.dispose()
