"""History fixtures: a real recorder subprocess on the test's own database and Redis prefix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.servers import BIN, ManagedProcess, wait_until


class RecorderProcess(ManagedProcess):
    """``flask --app wsgi:app taskdeck record`` against the test database; ready once it beats."""

    def __init__(self, database_url: str, key_prefix: str, log_path: Path, **settings: str):
        env = {**os.environ, "DATABASE_URL": database_url, "TASKDECK_KEY_PREFIX": key_prefix, **settings}
        super().__init__([str(BIN / "flask"), "--app", "wsgi:app", "taskdeck", "record"], env, log_path)
        self.key_prefix = key_prefix

    def start(self, redis_client) -> RecorderProcess:
        self.spawn()
        wait_until(lambda: self._active(redis_client), timeout=60, interval=0.1, what="recorder heartbeat")
        return self

    def _active(self, redis_client) -> bool:
        from dashboard.heartbeat import alive

        self.check_running("recorder")
        instance = f"{os.uname().nodename}:{self.process.pid}"
        return any(
            b.instance == instance and b.info.get("active")
            for b in alive(redis_client, self.key_prefix, "recorder")
        )


@pytest.fixture
def start_recorder(database_url, key_prefix, redis_client, tmp_path):
    """Start (and at teardown stop) recorder processes; call it again to restart one."""
    started: list[RecorderProcess] = []

    def start(**settings: str) -> RecorderProcess:
        recorder = RecorderProcess(
            database_url, key_prefix, tmp_path / f"recorder-{len(started)}.log", **settings
        ).start(redis_client)
        started.append(recorder)
        return recorder

    yield start
    for recorder in started:
        recorder.stop()


@pytest.fixture
def recorder(start_recorder, celery_worker):
    return start_recorder()


@pytest.fixture
def fetch_run(app):
    """Read a run afresh from the test database (None when not recorded yet)."""
    from dashboard.core.runs import TaskRun
    from dashboard.extensions import db

    def fetch(task_id: str):
        with app.app_context():
            run = db.session.query(TaskRun).filter_by(task_id=task_id).one_or_none()
            if run is not None:
                db.session.expunge(run)
            return run

    return fetch


def wait_for_state(fetch_run, task_id: str, state: str, timeout: float = 45):
    return wait_until(
        lambda: (run := fetch_run(task_id)) is not None and run.state == state and run,
        timeout=timeout,
        interval=0.1,
        what=f"run {task_id} in {state}",
    )
