"""Taskdeck: a Flask + HTMX operations dashboard for Celery."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import NotFound

from .blueprint import ROOT, dashboard, http_error_page

__all__ = ["create_app", "dashboard"]


def create_app(overrides: dict | None = None) -> Flask:
    """Build the standalone dashboard app; ``overrides`` win over environment variables."""
    app = Flask(__name__, instance_path=str(ROOT / "instance"), static_folder=None, template_folder=None)
    app.register_blueprint(dashboard, config=overrides, standalone=True)
    app.register_error_handler(NotFound, http_error_page)  # addresses no blueprint serves
    return app
