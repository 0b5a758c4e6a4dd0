"""The dispatcher process: releases the staging list head first under the operator's policy.

Any number may run at once. Each release is one atomic script that also checks the item is still
the head, so two dispatchers racing for the same head release it once between them; the loser
simply tries the new head. Nothing is held in process memory between releases, so killing a
dispatcher at any instant loses and repeats nothing.
"""

from __future__ import annotations

import logging
import signal
import time

from flask import Flask

from .. import heartbeat
from ..extensions import db
from ..redis_client import broker_on_dashboard_redis, get_celery, get_redis
from . import service

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 5.0
IDLE_SLEEP = 0.2


class Dispatcher:
    """One dispatcher instance bound to an app (build the app with ``create_app()``)."""

    def __init__(self, app: Flask, *, idle_sleep: float = IDLE_SLEEP):
        self.app = app
        self.idle_sleep = idle_sleep
        self.stopping = False
        self.released = 0

    def stop(self, *_args) -> None:
        self.stopping = True

    def run(self) -> None:
        """Release until stopped (SIGTERM/SIGINT stop after the current release)."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        with self.app.app_context():
            client, prefix = get_redis(), self.app.config["TASKDECK_KEY_PREFIX"]
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
        outcome = service.release_next(client, get_celery(), prefix, policy=policy, same_server=same_server)
        for item_id in outcome.held:
            log.warning("held staged item %s: its message cannot be built", item_id)
        if outcome.released:
            self.released += 1
            service.record_release(db.session, outcome)
        return outcome.released or bool(outcome.held)  # holding a poison head is progress too

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
