"""A second Celery app whose worker has a task the dashboard's app does not know."""

import os

from celery import Celery

app = Celery("registry_tests_worker_only")
app.conf.update(
    broker_url=os.environ["CELERY_BROKER_URL"],
    result_backend=os.environ["CELERY_RESULT_BACKEND"],
    worker_hijack_root_logger=False,
)


@app.task(name="registry_tests.only_on_worker")
def only_on_worker() -> str:
    """Exists only in this worker."""
    return "worker"
