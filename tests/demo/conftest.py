"""A whole running system of its own, filled by the demo command: Redis, worker, recorder, gunicorn.

Everything runs against a Redis server of the module's own, so the demo's waiting messages, held
countdowns and long runs never reach the session's worker or another test's queues. The test
process reads the history through an app of its own on the session's Redis (SQL only).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from dashboard.core.runs import STATES
from tests.conftest import POSTGRES_ADMIN_URL, _postgres_database, app_config
from tests.history.conftest import RecorderProcess
from tests.support.servers import (
    BIN,
    ROOT,
    CeleryWorker,
    GunicornServer,
    RedisServer,
    host_environment,
    procfile_gunicorn_options,
    wait_until,
)

# Long enough that the runs the demo leaves unfinished stay so for the whole module.
HOLD_SECONDS = 900
# Deadlines only (each wait ends as soon as its state is seen), generous for a loaded machine.
DEMO_TIMEOUT = 240


@dataclass
class DemoSystem:
    """The running system after ``flask taskdeck demo --size small``."""

    url: str  # the dashboard, served by gunicorn as the Procfile runs it
    app: object  # an app on the same database, for reading the history in SQL
    output: str  # what the demo command printed
    worker: CeleryWorker
    logs: Path

    def get(self, path: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read(), dict(error.headers)

    def api(self, path: str):
        status, body, _headers = self.get(f"/api/v1{path}")
        assert status == 200, (path, status, body[:500])
        return json.loads(body)

    def runs(self, *criteria):
        """Recorded runs matching SQLAlchemy ``criteria``, newest first (read afresh)."""
        from sqlalchemy import select

        from dashboard.core.runs import TaskRun
        from dashboard.extensions import db

        with self.app.app_context():
            rows = db.session.scalars(select(TaskRun).where(*criteria).order_by(TaskRun.seq.desc())).all()
            db.session.expunge_all()
            db.session.remove()
            return rows

    def app_log(self) -> str:
        return (self.logs / "gunicorn.log").read_text(errors="replace")


def online(system: DemoSystem) -> bool:
    system.worker.check_running("worker")
    workers = system.api("/workers")["workers"]
    return any(w["hostname"] == system.worker.hostname and w["status"] == "online" for w in workers)


@pytest.fixture(scope="module")
def demo_database_url(tmp_path_factory, migrated_database):
    """A migrated database of the module's own (SQLite, or PostgreSQL under `make test-postgres`)."""
    if not POSTGRES_ADMIN_URL:
        path = tmp_path_factory.mktemp("demo-db") / "taskdeck.db"
        shutil.copyfile(migrated_database, path)
        yield f"sqlite:///{path}"
        return
    yield from _postgres_database(template=migrated_database)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, redis_server, demo_database_url) -> DemoSystem:
    logs = tmp_path_factory.mktemp("demo-system")
    prefix = f"td-demo-{uuid.uuid4().hex[:8]}:"
    own_redis = RedisServer(logs / "redis").start()
    env = host_environment(own_redis.url, demo_database_url, prefix, "demo-walk")
    client = redis.Redis.from_url(own_redis.url)
    started: list = []
    worker = None
    try:
        options = [*procfile_gunicorn_options(), "--access-logfile", "-"]  # the walk's requests, in the log
        server = GunicornServer(env, logs / "gunicorn.log", options=options).start()
        started.append(server)
        worker = CeleryWorker(env, logs / "worker.log", concurrency=4, name="demo")
        worker.spawn()
        started.append(worker)
        # Ready once the dashboard itself sees it online (the bundled Celery app of this process
        # stays on the session's Redis, and Celery reads CELERY_BROKER_URL before any setting).
        system = DemoSystem(url=server.url, app=None, output="", worker=worker, logs=logs)
        wait_until(lambda: online(system), timeout=120, interval=0.2, what="the demo's worker online")
        recorder = RecorderProcess(
            demo_database_url,
            prefix,
            logs / "recorder.log",
            REDIS_URL=own_redis.url,
            CELERY_BROKER_URL=own_redis.url,
            CELERY_RESULT_BACKEND=own_redis.url,
        ).start(client)
        started.append(recorder)
        command = [str(BIN / "flask"), "--app", "wsgi:app", "taskdeck", "demo", "--size", "small"]
        command += ["--hold", str(HOLD_SECONDS), "--timeout", str(DEMO_TIMEOUT)]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        (logs / "demo.log").write_text(f"{done.stdout}\n{done.stderr}")
        assert done.returncode == 0, f"demo failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        from dashboard import create_app

        app = create_app(app_config(logs, redis_server.url, demo_database_url, prefix))
        system.app, system.output = app, done.stdout
        # The command waited for its runs; the history, read here in SQL, agrees.
        wait_until(
            lambda: {run.state for run in system.runs()} >= set(STATES),
            timeout=120,
            what="every state in the history",
        )
        yield system
        from dashboard.extensions import db

        with app.app_context():
            db.engine.dispose()
    finally:
        for process in reversed(started):
            if process is worker:
                process.kill()  # its long runs would hold a warm shutdown; the Redis goes too
            else:
                process.stop()
        client.close()
        own_redis.stop()
