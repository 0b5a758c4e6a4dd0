"""The managed app's broker keys, as kombu's Redis transport names them.

kombu keeps a queue as a LIST per priority step: ``queue`` for step 0 and ``queue + sep + step``
for the others, every key under the transport option ``global_keyprefix``. It LPUSHes new messages
and workers BRPOP the keys lowest step first, so the next message to run is the RIGHT end of the
first non-empty sub-list. Bindings are SETs ``_kombu.binding.<exchange>`` whose members are
``routing_key + sep + pattern + sep + queue``. Everything here is read from the Celery app's own
``broker_transport_options``, so an app that changes them is read as its workers read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis
from celery import Celery

DEFAULT_SEP = "\x06\x16"
DEFAULT_PRIORITY_STEPS = (0, 3, 6, 9)
BINDING_PREFIX = "_kombu.binding."
# Exchanges of Celery's own broadcast/reply traffic: not work queues an operator manages.
INTERNAL_EXCHANGE_SUFFIXES = ("pidbox",)
INTERNAL_EXCHANGES = frozenset({"celeryev"})


@dataclass(frozen=True)
class BrokerLayout:
    """How the broker names its keys, from the Celery app's ``broker_transport_options``."""

    sep: str = DEFAULT_SEP
    priority_steps: tuple[int, ...] = DEFAULT_PRIORITY_STEPS
    unacked_key: str = "unacked"
    unacked_index_key: str = "unacked_index"
    global_prefix: str = ""

    @classmethod
    def from_transport_options(cls, options: Mapping | None) -> BrokerLayout:
        """The layout kombu's Redis channel builds from the same options."""
        options = options or {}
        steps = options.get("priority_steps") or DEFAULT_PRIORITY_STEPS
        return cls(
            sep=str(options.get("sep") or DEFAULT_SEP),
            # kombu bisects the steps to place a priority, so they only work sorted
            priority_steps=tuple(sorted({int(step) for step in steps})),
            unacked_key=str(options.get("unacked_key") or "unacked"),
            unacked_index_key=str(options.get("unacked_index_key") or "unacked_index"),
            global_prefix=str(options.get("global_keyprefix") or ""),
        )

    def sub_list(self, queue: str, step: int) -> str:
        """The list holding ``queue``'s messages of priority ``step`` (kombu's ``_q_for_pri``)."""
        name = f"{queue}{self.sep}{step}" if step else queue
        return self.global_prefix + name

    def sub_lists(self, queue: str) -> list[str]:
        """The queue's lists in the order workers consume them."""
        return [self.sub_list(queue, step) for step in self.priority_steps]

    def binding_pattern(self) -> str:
        """A SCAN pattern matching every exchange's binding set."""
        return self.global_prefix + BINDING_PREFIX + "*"

    def exchange_of_binding_key(self, key: str) -> str:
        """The exchange a binding set's key belongs to."""
        return key[len(self.global_prefix) + len(BINDING_PREFIX) :]

    @property
    def unacked(self) -> str:
        return self.global_prefix + self.unacked_key

    @property
    def unacked_index(self) -> str:
        return self.global_prefix + self.unacked_index_key


def layout_for(celery_app: Celery) -> BrokerLayout:
    """The broker's key layout from the Celery app's transport options."""
    return BrokerLayout.from_transport_options(celery_app.conf.broker_transport_options)


def queue_keys(layout: BrokerLayout, queue: str) -> list[str]:
    """The broker lists (one per priority step) holding ``queue``'s waiting messages."""
    return layout.sub_lists(queue)


def is_internal_exchange(exchange: str) -> bool:
    """True for Celery's broadcast and event exchanges."""
    return exchange in INTERNAL_EXCHANGES or exchange.endswith(INTERNAL_EXCHANGE_SUFFIXES)


def bindings(client: redis.Redis, layout: BrokerLayout) -> dict[str, set[tuple[str, str]]]:
    """Queue -> {(exchange, routing key)} from kombu's ``_kombu.binding.<exchange>`` sets."""
    found: dict[str, set[tuple[str, str]]] = {}
    keys = list(client.scan_iter(match=layout.binding_pattern(), count=500))
    exchanges = [layout.exchange_of_binding_key(key.decode("utf-8", "replace")) for key in keys]
    with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.smembers(key)
        members = pipe.execute()
    for exchange, values in zip(exchanges, members, strict=True):
        if is_internal_exchange(exchange):
            continue
        for value in values:
            parts = value.decode("utf-8", "replace").split(layout.sep)
            if len(parts) == 3 and parts[2]:
                found.setdefault(parts[2], set()).add((exchange, parts[0]))
    return found


def queue_depths(
    client: redis.Redis, layout: BrokerLayout, queues: Iterable[str]
) -> dict[str, dict[int, int]]:
    """Queue -> {priority step: messages waiting}, read in one round trip."""
    names = list(dict.fromkeys(queues))
    steps = layout.priority_steps
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            for key in layout.sub_lists(name):
                pipe.llen(key)
        lengths = pipe.execute()
    per = len(steps)
    return {
        name: {step: int(lengths[i * per + j] or 0) for j, step in enumerate(steps)}
        for i, name in enumerate(names)
    }


def waiting(client: redis.Redis, layout: BrokerLayout, queue: str) -> int:
    """Messages waiting in ``queue`` over all its priority steps."""
    return sum(queue_depths(client, layout, [queue])[queue].values())
