"""Synthetic Celery task events for the history benchmarks (shared helper, not a benchmark)."""

from __future__ import annotations

import random
import time
import uuid

KINDS = ("task-sent", "task-received", "task-started", "task-succeeded")


def task_events(tasks: int, *, seed: int = 7, shuffle_window: int = 8) -> list[dict]:
    """Five events per task (sent, received, started, succeeded/failed), locally out of order."""
    rng = random.Random(seed)
    now = time.time() - tasks / 1000
    events: list[dict] = []
    for index in range(tasks):
        task_id = str(uuid.UUID(int=rng.getrandbits(128)))
        at = now + index / 1000
        name = ("tasks.add", "tasks.send_daily_report", "tasks.cleanup_expired_data")[index % 3]
        common = {
            "uuid": task_id,
            "hostname": f"worker{index % 4}@bench",
            "clock": index,
            "local_received": at,
        }
        events.append(
            {
                **common,
                "type": "task-sent",
                "timestamp": at,
                "name": name,
                "args": f"({index}, 2)",
                "kwargs": "{}",
                "queue": "celery",
                "retries": 0,
            }
        )
        events.append(
            {
                **common,
                "type": "task-received",
                "timestamp": at + 0.001,
                "name": name,
                "args": f"({index}, 2)",
                "kwargs": "{}",
                "retries": 0,
            }
        )
        events.append({**common, "type": "task-started", "timestamp": at + 0.002})
        if index % 10 == 0:
            events.append(
                {
                    **common,
                    "type": "task-failed",
                    "timestamp": at + 0.003,
                    "exception": "RuntimeError('boom')",
                    "traceback": "Traceback ...\nRuntimeError: boom",
                }
            )
        else:
            events.append(
                {
                    **common,
                    "type": "task-succeeded",
                    "timestamp": at + 0.003,
                    "result": str(index + 2),
                    "runtime": 0.001,
                }
            )
        events.append({**common, "type": "worker-heartbeat", "timestamp": at + 0.004})
    # Deliver slightly out of order, as several workers and a network would.
    for start in range(0, len(events), shuffle_window):
        window = events[start : start + shuffle_window]
        rng.shuffle(window)
        events[start : start + shuffle_window] = window
    return events


def iter_task_events(tasks: int, *, chunk: int = 1000):
    """The same kind of stream as ``task_events``, generated lazily (for memory measurements)."""
    for offset in range(0, tasks, chunk):
        yield from task_events(min(chunk, tasks - offset), seed=offset + 1)
