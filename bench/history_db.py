"""Which database the history benchmarks run against (shared helper, not a benchmark).

    --database sqlite        a fresh SQLite file (WAL), the default
    --database postgresql    a fresh database on the server in DATABASE_URL when that names a
                             PostgreSQL server, else on a throwaway cluster started here with
                             scripts/test-postgres (own directory and free port; stopped at the end)

Either way the benchmark gets a database of its own, migrated to the head, and drops it after.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parser(description: str) -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(description=description)
    default = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgresql") else "sqlite"
    parse.add_argument("--database", choices=("sqlite", "postgresql"), default=default)
    return parse


def _throwaway_cluster() -> tuple[str, dict]:
    from tests.support.servers import free_port

    # Directly under /tmp: the postgres user must be able to reach it (mkdtemp dirs are 0700).
    directory = Path(tempfile.gettempdir()) / f"taskdeck-bench-pg-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, TASKDECK_PG_DIR=str(directory), TASKDECK_PG_PORT=str(free_port()))
    started = subprocess.run(
        [str(ROOT / "scripts" / "test-postgres"), "start"], env=env, capture_output=True, text=True
    )
    if started.returncode:
        raise RuntimeError(f"scripts/test-postgres start failed: {started.stderr}")
    output = started.stdout
    match = re.search(r"TASKDECK_TEST_DATABASE_URL=(\S+)", output)
    if not match:
        raise RuntimeError(f"scripts/test-postgres printed no URL: {output!r}")
    return match.group(1), env


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A SQLAlchemy URL for an empty database of the given kind, removed afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'history.db'}"
        return
    from sqlalchemy import create_engine, text

    env = None
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith("postgresql"):
        server, env = _throwaway_cluster()
    server = server.replace("postgresql://", "postgresql+psycopg://", 1)
    name = f"taskdeck_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield server.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()
        if env is not None:
            subprocess.run([str(ROOT / "scripts" / "test-postgres"), "stop"], env=env, check=False)


def label(url: str) -> str:
    """What the figures were measured on, for the printed header."""
    if url.startswith("sqlite"):
        return "SQLite (WAL)"
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar()
        fsync = connection.execute(text("SHOW fsync")).scalar()
        commit = connection.execute(text("SHOW synchronous_commit")).scalar()
    engine.dispose()
    return f"PostgreSQL {version.split()[0]} (fsync={fsync}, synchronous_commit={commit})"


def psycopg_dsn(url: str) -> str:
    """The libpq form of a SQLAlchemy PostgreSQL URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def migrated_app(kind: str, name: str) -> Iterator[tuple[object, str]]:
    """The dashboard app on a redis-server and a fresh, migrated database of ``kind``.

    Yields ``(app, database URL)``; the temporary directory, Redis and the database go afterwards.
    """
    import shutil

    from flask_migrate import upgrade

    from dashboard import create_app
    from dashboard.extensions import db
    from tests.support.servers import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    redis_server = RedisServer(tmp / "redis").start()
    try:
        with database(kind, tmp) as url:
            app = create_app(
                {
                    "INSTANCE_PATH": tmp / "instance",
                    "DATABASE_URL": url,
                    "REDIS_URL": redis_server.url,
                    "CELERY_BROKER_URL": redis_server.url,
                    "CELERY_RESULT_BACKEND": redis_server.url,
                    "SECRET_KEY": "bench",
                }
            )
            with app.app_context():
                upgrade(directory=str(ROOT / "migrations"), revision="heads")
                db.engine.dispose()
            yield app, url
    finally:
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
