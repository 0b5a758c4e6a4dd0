"""Build the exact broker message ``send_task`` would push, without pushing it.

Celery builds a task message in layers (router, ``amqp.as_task_v2``, the producer's serializer,
kombu's virtual channel adding delivery info and base64 body encoding, the Redis channel picking
the priority sub-list). Rather than re-implement any of them, we run ``send_task`` itself through
a kombu Redis channel whose final ``_put`` (the LPUSH) and ``_put_fanout`` (the task-sent event's
PUBLISH) record what they would write. The release script then writes exactly that, atomically.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

from celery import Celery
from flask_babel import lazy_gettext as _l
from kombu import Connection
from kombu.transport import redis as kombu_redis

from .errors import DashboardError


class _RecordingChannel(kombu_redis.Channel):
    """A Redis channel that records the LPUSH/PUBLISH it would do instead of doing them."""

    def _put(self, queue, message, **kwargs):
        priority = self._get_message_priority(message, reverse=False)
        self.recorded.append(
            (
                queue,
                self.global_keyprefix + self._q_for_pri(queue, priority),
                kombu_redis.dumps(message),
                [self.global_keyprefix + self._q_for_pri(queue, step) for step in self.priority_steps],
            )
        )

    def _put_fanout(self, exchange, message, routing_key, **kwargs):
        payload = kombu_redis.dumps(message)
        for topic in self._get_publish_topics(exchange, routing_key):
            self.events.append((self.global_keyprefix + topic, payload))


class _RecordingTransport(kombu_redis.Transport):
    Channel = _RecordingChannel


@dataclass(frozen=True)
class PreparedMessage:
    """A broker message ready to LPUSH: the queue, the list key, the JSON, and its event."""

    queue: str
    list_key: str
    body: str
    queue_keys: list[str]
    events: list[tuple[str, str]] = field(default_factory=list)


class _Builder:
    def __init__(self, celery_app: Celery):
        url = celery_app.conf.broker_url or ""
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise DashboardError(_l("releasing from staging needs a Redis broker"))
        self.connection = Connection(
            url, transport=_RecordingTransport, transport_options=celery_app.conf.broker_transport_options
        )
        self.producer = celery_app.amqp.Producer(self.connection)
        self.lock = threading.Lock()

    def build(self, celery_app: Celery, task: str, args, kwargs, task_id: str, options) -> PreparedMessage:
        options = dict(options)
        with self.lock:
            channel = self.producer.channel
            channel.recorded, channel.events = [], []
            celery_app.send_task(
                task,
                args=args,
                kwargs=kwargs,
                task_id=task_id,
                producer=self.producer,
                queue=options.get("queue") or None,
                priority=options.get("priority"),
                countdown=options.get("countdown"),
                eta=options.get("eta"),
                expires=options.get("expires"),
                headers=options.get("headers") or None,
            )
            recorded, events = channel.recorded, channel.events
        if len(recorded) != 1:
            raise DashboardError(_l("could not prepare a broker message for '%(task)s'", task=task))
        queue, list_key, body, queue_keys = recorded[0]
        return PreparedMessage(queue, list_key, body, queue_keys, events)


_builders: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_builders_lock = threading.Lock()


def _builder(celery_app: Celery) -> _Builder:
    with _builders_lock:
        builder = _builders.get(celery_app)
        if builder is None:
            builder = _builders[celery_app] = _Builder(celery_app)
    return builder


def prepare(celery_app: Celery, item) -> PreparedMessage:
    """The message ``celery_app.send_task`` would push for ``item`` (its id as the task id)."""
    return _builder(celery_app).build(celery_app, item.task, item.args, item.kwargs, item.id, item.options)


def prepare_outgoing(celery_app: Celery, outgoing) -> PreparedMessage:
    """The message ``send_message`` would push for a :class:`~.dispatch.Outgoing`, headers included."""
    return _builder(celery_app).build(
        celery_app, outgoing.task, outgoing.args, outgoing.kwargs, outgoing.task_id, outgoing.options
    )


def queue_keys(celery_app: Celery, queue: str) -> list[str]:
    """The broker list keys (with priority sub-lists) that hold ``queue``'s waiting messages."""
    channel = _builder(celery_app).producer.channel
    return [channel.global_keyprefix + channel._q_for_pri(queue, step) for step in channel.priority_steps]
