"""Many hands on one list: reorders, producers and two dispatcher processes (one killed with
SIGKILL and restarted) on real Redis, with a real worker executing every item exactly once."""

from __future__ import annotations

import json
import os
import random
import re
import threading
import uuid
from collections import Counter

import pytest

from dashboard.core.errors import DashboardError
from dashboard.staging import service
from dashboard.staging.keys import StagingKeys
from tests.support.servers import CeleryWorker, wait_until

pytestmark = pytest.mark.worker

INITIAL = 1200
PRODUCED = 400
REORDER_THREADS = 3


def test_every_item_runs_exactly_once_under_reorders_producers_and_a_killed_dispatcher(
    app, redis_client, stage, dispatchers, process_env, celery_app, key_prefix, tmp_path
):
    prefix = app.config["TASKDECK_KEY_PREFIX"]
    keys = StagingKeys(prefix)
    queue = f"staging-test-{uuid.uuid4().hex[:8]}"
    worker_log = tmp_path / "worker.log"
    worker = CeleryWorker(dict(os.environ), worker_log, queues=queue, concurrency=2, name="staging").start(
        celery_app
    )
    try:
        service.set_policy(redis_client, prefix, {"state": "paused", "low_water": 20, "max_rate": 0})
        expected = dict.fromkeys(stage(INITIAL, queue=queue))
        stop = threading.Event()
        errors: list[BaseException] = []
        produced: list[str] = []

        def reorder(seed: int) -> None:
            rng = random.Random(seed)
            try:
                while not stop.is_set():
                    ids = [i.decode() for i in redis_client.zrange(keys.order, 0, 300)]
                    if len(ids) < 3:
                        continue
                    item, neighbour = rng.sample(ids, 2)
                    choice = rng.choice(["before", "after", "top", "bottom", "up", "down"])
                    try:
                        if choice in ("before", "after"):
                            service.move(redis_client, prefix, item, **{choice: neighbour})
                        else:
                            service.move(redis_client, prefix, item, position=choice)
                    except DashboardError:
                        pass  # released meanwhile: refused, nothing changed
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        def produce() -> None:
            try:
                for _ in range(PRODUCED // 50):
                    produced.extend(stage(50, queue=queue, at=random.choice(["head", "tail"])))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=reorder, args=(n,)) for n in range(REORDER_THREADS)]
        threads.append(threading.Thread(target=produce))
        first, _second = dispatchers.start("a"), dispatchers.start("b")
        service.set_policy(redis_client, prefix, {"state": "running"})
        for thread in threads:
            thread.start()

        def released() -> int:
            return len(expected) + len(produced) - redis_client.zcard(keys.order)

        wait_until(lambda: released() >= 250, timeout=60, what="dispatchers releasing")
        first.kill()
        wait_until(lambda: released() >= 500, timeout=60, what="the surviving dispatcher releasing")
        dispatchers.start("a-again")
        threads[-1].join(timeout=60)
        wait_until(lambda: redis_client.zcard(keys.order) == 0, timeout=120, what="the list to drain")
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert errors == []

        all_ids = set(expected) | set(produced)
        assert len(all_ids) == INITIAL + PRODUCED
        assert redis_client.hlen(keys.items) == 0

        def results() -> dict[str, dict]:
            got = {}
            ids = sorted(all_ids)
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                for task_id, raw in zip(
                    chunk, redis_client.mget([f"celery-task-meta-{i}" for i in chunk]), strict=True
                ):
                    if raw is not None:
                        got[task_id] = json.loads(raw)
            return got

        wait_until(lambda: len(results()) == len(all_ids), timeout=120, interval=0.5, what="every result")
        final = results()
        assert {meta["status"] for meta in final.values()} == {"SUCCESS"}
        assert redis_client.llen(queue) == 0

        # The worker logs one "succeeded" line per execution: each id exactly once.
        wait_until(lambda: worker_log.read_text().count("succeeded in") >= len(all_ids), timeout=30)
        executed = Counter(re.findall(r"Task tasks\.add\[([^\]]+)\] succeeded", worker_log.read_text()))
        assert set(executed) == all_ids
        assert [task_id for task_id, times in executed.items() if times != 1] == []
    finally:
        worker.stop()
