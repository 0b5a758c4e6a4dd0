"""The managed Celery app: loaded from ``CELERY_APP`` the way ``celery -A`` finds one."""

from __future__ import annotations

from celery import Celery
from celery.app.utils import find_app

from .core.broker import timeouts

# kombu's Redis transport waits on BRPOP with a server-side timeout and, when a channel closes with
# a BRPOP in flight (after an inspect that waited its full timeout), reads that reply first: with
# the default of 1 s that read outlasts a short socket timeout and fails. ``polling_interval`` sets
# the BRPOP timeout (kombu also sleeps that long between empty polls): half the socket timeout,
# at most this, keeps it well below the socket timeout while adding little to an inspect's wait.
BRPOP_SECONDS = 0.1
# The result backend's retry of a lost connection (its result pub/sub after a send_task): one more
# try at once, instead of Celery's 20 a second apart.
BACKEND_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def load_celery_app(
    import_path: str,
    broker_url: str,
    result_backend: str,
    sentinel_master: str | None = None,
    socket_timeout: float | None = None,
) -> Celery:
    """Import the Celery app to manage and point it at the configured broker and backend.

    ``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND`` win over the app's own settings, so the
    dashboard always talks to the Redis it was told about (the same rule as Flower's ``--broker``).
    ``socket_timeout`` (REDIS_SOCKET_TIMEOUT) bounds every broker and result-backend read of this
    process; the settings changed here are this process's only, never the workers'.
    """
    celery_app = find_app(import_path)
    if celery_app.conf.broker_url != broker_url:
        celery_app.conf.broker_url = broker_url
    if celery_app.conf.result_backend != result_backend:
        celery_app.conf.result_backend = result_backend
    limits = timeouts(socket_timeout)
    read, connect = limits["socket_timeout"], limits["socket_connect_timeout"]
    # Never let a page wait on a broker that is down or hung: fail fast and let the caller say so.
    celery_app.conf.broker_connection_timeout = connect
    celery_app.conf.broker_connection_max_retries = 1
    transport = {
        **(celery_app.conf.broker_transport_options or {}),
        "socket_connect_timeout": connect,
        "socket_timeout": read,
        "polling_interval": min(BRPOP_SECONDS, read / 2),
    }
    if sentinel_master and broker_url.startswith("sentinel://"):
        transport.setdefault("master_name", sentinel_master)
    celery_app.conf.broker_transport_options = transport
    # The Redis result backend (AsyncResult.state, get_task_meta) reads with no timeout by default,
    # and may retry a failed read for ever (result_backend_always_retry) or re-subscribe its result
    # pub/sub up to 20 times: one try, bounded by the same timeouts, is what a poll can afford.
    celery_app.conf.redis_socket_timeout = read
    celery_app.conf.redis_socket_connect_timeout = connect
    celery_app.conf.redis_retry_on_timeout = False
    celery_app.conf.result_backend_always_retry = False
    backend_options = dict(celery_app.conf.result_backend_transport_options or {})
    backend_options["retry_policy"] = dict(BACKEND_RETRY)
    if sentinel_master and result_backend.startswith("sentinel://"):
        backend_options.setdefault("master_name", sentinel_master)
    celery_app.conf.result_backend_transport_options = backend_options
    return celery_app
