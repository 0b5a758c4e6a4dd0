"""The managed Celery app: loaded from ``CELERY_APP`` the way ``celery -A`` finds one."""

from __future__ import annotations

from celery import Celery
from celery.app.utils import find_app


def load_celery_app(
    import_path: str, broker_url: str, result_backend: str, sentinel_master: str | None = None
) -> Celery:
    """Import the Celery app to manage and point it at the configured broker and backend.

    ``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND`` win over the app's own settings, so the
    dashboard always talks to the Redis it was told about (the same rule as Flower's ``--broker``).
    """
    celery_app = find_app(import_path)
    if celery_app.conf.broker_url != broker_url:
        celery_app.conf.broker_url = broker_url
    if celery_app.conf.result_backend != result_backend:
        celery_app.conf.result_backend = result_backend
    # Never let a page wait on a broker that is down: fail fast and let the caller say so.
    celery_app.conf.broker_connection_timeout = 2
    celery_app.conf.broker_connection_max_retries = 1
    transport = {**(celery_app.conf.broker_transport_options or {}), "socket_connect_timeout": 2}
    if sentinel_master and broker_url.startswith("sentinel://"):
        transport.setdefault("master_name", sentinel_master)
    celery_app.conf.broker_transport_options = transport
    if sentinel_master and result_backend.startswith("sentinel://"):
        backend_options = dict(celery_app.conf.result_backend_transport_options or {})
        backend_options.setdefault("master_name", sentinel_master)
        celery_app.conf.result_backend_transport_options = backend_options
    return celery_app
