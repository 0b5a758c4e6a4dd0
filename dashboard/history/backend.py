"""Reading a Celery result backend in bulk, for the recorder's final values and reconciliation."""

from __future__ import annotations

from collections.abc import Iterable


def fetch_metas(backend, task_ids: Iterable[str]) -> dict[str, dict]:
    """Result-backend records of ``task_ids`` that exist (one MGET on key-value backends)."""
    ids = list(task_ids)
    if not ids:
        return {}
    found: dict[str, dict] = {}
    if hasattr(backend, "mget") and hasattr(backend, "get_key_for_task"):
        values = backend.mget([backend.get_key_for_task(task_id) for task_id in ids])
        for task_id, raw in zip(ids, values, strict=True):
            if raw:
                found[task_id] = backend.decode(raw)
        return found
    for task_id in ids:  # other backends: one query per run
        meta = backend.get_task_meta(task_id)
        if meta.get("status") not in (None, "PENDING"):
            found[task_id] = meta
    return found


def scan_backend_ids(backend, *, count: int = 1000) -> Iterable[list[str]]:
    """Task ids with a record in a Redis result backend, in chunks (SCAN, never KEYS)."""
    client = getattr(backend, "client", None)
    prefix = getattr(backend, "task_keyprefix", None)
    if client is None or prefix is None or not hasattr(client, "scan_iter"):
        return
    prefix = prefix.decode() if isinstance(prefix, bytes) else prefix
    chunk: list[str] = []
    for key in client.scan_iter(match=prefix + "*", count=count):
        key = key.decode() if isinstance(key, bytes) else key
        chunk.append(key[len(prefix) :])
        if len(chunk) >= count:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
