"""The bundled Celery app: the demo and test default. Point ``CELERY_APP`` at your own app instead."""

import os

from celery import Celery
from kombu import Queue

redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6399/0"

app = Celery("taskdeck_demo", include=["tasks.examples"])
app.conf.update(
    broker_url=os.environ.get("CELERY_BROKER_URL") or redis_url,
    result_backend=os.environ.get("CELERY_RESULT_BACKEND") or redis_url,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Events feed the history recorder and Flower; STARTED and extended results feed history.
    worker_send_task_events=True,
    task_send_sent_event=True,
    task_track_started=True,
    result_extended=True,
    task_default_queue="celery",
    task_queues=[Queue("celery"), Queue("reports")],
    task_routes={"tasks.send_daily_report": {"queue": "reports"}},
    broker_connection_retry_on_startup=True,
    timezone="UTC",
)
