"""The dispatcher process: releases the staging list head first under the operator's policy.

Any number may run at once. Each release is one atomic script that also checks the item is still
the head, so two dispatchers racing for the same head release it once between them; the loser
simply tries the new head. Nothing is held in process memory between releases, so killing a
dispatcher at any instant loses and repeats nothing.

The script also appends the run's origin entry for the history (``core.origins``), which the
recorder folds into SQL in batches: a release writes no SQL here. Several heads go in one script
when the policy lets more than one through (no rate limit, a low-water mark above one): the batch
grows while whole batches are released and falls back to one item after a refusal, so a busy
queue does not make every step prepare messages it cannot release.
"""

from __future__ import annotations

import logging
import signal
import time

from flask import Flask

from .. import heartbeat, mount
from ..redis_client import broker_on_dashboard_redis, get_celery, get_redis
from . import service

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0
IDLE_SLEEP = 0.2
MAX_BATCH = 32  # heads one step releases at most (one script)


class Dispatcher:
    """One dispatcher instance bound to an app (build the app with ``create_app()``)."""

    def __init__(self, app: Flask, *, idle_sleep: float = IDLE_SLEEP):
        self.app = app
        self.idle_sleep = idle_sleep
        self.stopping = False
        self.released = 0
        self.batch = 1  # heads the next step tries: doubles while whole batches go, else back to 1

    def stop(self, *_args) -> None:
        self.stopping = True

    def run(self) -> None:
        """Release until stopped (SIGTERM/SIGINT stop after the current release)."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        with self.app.app_context():
            client, prefix = get_redis(), mount.first(self.app).config["TASKDECK_KEY_PREFIX"]
            same_server = broker_on_dashboard_redis()
            if not same_server:
                recovered = service.recover_releases(client, get_celery(), prefix)
                if recovered:
                    log.warning("finished %d interrupted hand-overs to the broker", recovered)
            log.info(
                "dispatcher %s started (broker on the staging Redis: %s)",
                heartbeat.instance_id(),
                same_server,
            )
            last_beat = 0.0
            while not self.stopping:
                now = time.monotonic()
                if now - last_beat >= HEARTBEAT_EVERY:
                    self._beat(client, prefix)
                    last_beat = now
                try:
                    released = self.step(client, prefix, same_server)
                except Exception:  # keep dispatching through a Redis blip or a bad item
                    log.exception("release failed")
                    released = False
                if not released:
                    time.sleep(self.idle_sleep)
            heartbeat.stop(client, prefix, "dispatcher")

    def step(self, client, prefix: str, same_server: bool) -> bool:
        """One attempt under the current policy; True when an item was released (or held)."""
        policy = service.get_policy(client, prefix)
        if not policy.running:
            return False
        limit = min(self.batch, batch_limit(policy))
        result = service.release_heads(
            client, get_celery(), prefix, limit=limit, policy=policy, same_server=same_server
        )
        for item_id in result.held:
            log.warning("held staged item %s: its message cannot be built", item_id)
        self.released += len(result.released)
        self.batch = min(2 * limit, MAX_BATCH) if len(result.released) == limit else 1
        return bool(result.released or result.held)  # holding a poison head is progress too

    def _beat(self, client, prefix: str) -> None:
        try:
            heartbeat.beat(
                client,
                prefix,
                "dispatcher",
                ttl=HEARTBEAT_EVERY * 3,
                info={"released": self.released, "staged": service.staged_count(client, prefix)},
            )
        except Exception:
            log.exception("heartbeat failed")


def batch_limit(policy: service.Policy) -> int:
    """The most heads one step may release under ``policy``: one per rate slot, and no more than
    the low-water mark lets into an empty queue (the script checks each item all the same)."""
    if policy.rate_interval_ms:
        return 1
    return max(1, min(MAX_BATCH, policy.low_water))
