"""Resident memory: Flower's event state vs the recorder, each fed the same task events.

Each side runs in its own fresh process (events generated lazily, so the stream itself holds
no memory): Flower 2.x's ``EventsState`` (what ``celery flower`` keeps, default max_tasks
100,000) and the recorder's batching path writing to the database. The recorder's process
builds the app as ``flask --app wsgi:app taskdeck record`` does (``create_app()``); the schema
is migrated beforehand in another process, so the migration run is not counted.
Run: .venv/bin/python bench/history_memory.py [--database sqlite|postgresql] [tasks]
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLOWER = """
import json, sys, psutil
sys.path.insert(0, {root!r})
from bench.history_events import iter_task_events
from flower.events import EventsState
state = EventsState(max_tasks_in_memory=100_000)
before = psutil.Process().memory_info().rss
for event in iter_task_events({tasks}):
    state.event(event)
after = psutil.Process().memory_info().rss
print(json.dumps({{"before": before, "after": after, "tasks": len(state.tasks)}}))
"""

RECORDER = """
import json, sys, psutil
sys.path.insert(0, {root!r})
from bench.history_events import iter_task_events
from dashboard import create_app
from dashboard.history.recorder import Recorder
app = create_app({{"INSTANCE_PATH": {tmp!r} + "/instance", "DATABASE_URL": {url!r},
                  "REDIS_URL": {redis!r}, "CELERY_BROKER_URL": {redis!r}, "CELERY_RESULT_BACKEND": {redis!r},
                  "SECRET_KEY": "bench"}})
with app.app_context():
    recorder = Recorder(app)
    before = psutil.Process().memory_info().rss
    for event in iter_task_events({tasks}):
        recorder.handle(event)
    recorder.flush()
    print(json.dumps({{"before": before, "after": psutil.Process().memory_info().rss, "tasks": {tasks}}}))
"""

MIGRATE = """
import sys
sys.path.insert(0, {root!r})
from flask_migrate import upgrade
from dashboard import create_app
app = create_app({{"INSTANCE_PATH": {tmp!r} + "/instance", "DATABASE_URL": {url!r},
                  "REDIS_URL": {redis!r}, "SECRET_KEY": "bench"}})
with app.app_context():
    upgrade(directory={root!r} + "/migrations", revision="heads")
"""


def run(code: str) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(tasks: int = 40_000, kind: str = "sqlite") -> None:
    from bench import history_db
    from tests.support.servers import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="history-memory-"))
    redis_server = RedisServer(tmp / "redis").start()
    try:
        flower = run(FLOWER.format(root=str(ROOT), tasks=tasks))
        with history_db.database(kind, tmp) as url:
            where = {"root": str(ROOT), "tmp": str(tmp), "url": url, "redis": redis_server.url}
            run(MIGRATE.format(**where) + "\nprint('{}')")
            recorder = run(RECORDER.format(tasks=tasks, **where))
            database = history_db.label(url)
    finally:
        redis_server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    mib = 1024 * 1024
    print(
        f"machine: 2 cores; {tasks:,} tasks, {tasks * 5:,} events (incl. worker heartbeats) fed to each;"
        f" recorder writes to {database}"
    )
    for name, data in (("flower EventsState", flower), ("recorder", recorder)):
        print(
            f"{name}: RSS {data['after'] / mib:.1f} MiB after feeding "
            f"(+{(data['after'] - data['before']) / mib:.1f} MiB over the process after imports)"
        )
    ratio = recorder["after"] / flower["after"]
    growth = (recorder["after"] - recorder["before"]) / max(1, flower["after"] - flower["before"])
    print(
        f"ratio recorder/flower: total RSS {ratio:.2f}, growth {growth:.2f}; target <= 0.5: "
        f"{'met' if ratio <= 0.5 else 'NOT met'} on total RSS, "
        f"{'met' if growth <= 0.5 else 'NOT met'} on growth"
    )


if __name__ == "__main__":
    from bench import history_db

    arguments = history_db.parser(__doc__.splitlines()[0])
    arguments.add_argument("tasks", nargs="?", type=int, default=40_000)
    options = arguments.parse_args()
    main(options.tasks, options.database)
