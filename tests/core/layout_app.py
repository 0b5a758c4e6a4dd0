"""A Celery app whose broker keys follow transport options of its own: steps, separator, key prefix."""

import os

from celery import Celery
from kombu import Queue

PRIORITY_STEPS = [0, 2, 4, 6, 8]
SEP = ":"
PREFIX = "acme:"
WORK_QUEUE = "layout-work"  # the test's worker consumes it
HELD_QUEUE = "layout-held"  # nobody consumes it: what is sent there stays waiting

app = Celery("core_layout_tests")
app.conf.update(
    broker_url=os.environ["CELERY_BROKER_URL"],
    result_backend=os.environ["CELERY_RESULT_BACKEND"],
    broker_transport_options={"priority_steps": PRIORITY_STEPS, "sep": SEP, "global_keyprefix": PREFIX},
    task_queues=[Queue(WORK_QUEUE), Queue(HELD_QUEUE)],
    task_default_queue=HELD_QUEUE,
    worker_hijack_root_logger=False,
)


@app.task(name="layout_tests.echo")
def echo(value):
    """Returns what it was given."""
    return value
