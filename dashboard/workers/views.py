"""Pages of the workers area."""

from __future__ import annotations

from flask import Blueprint

from ..rendering import page_or_fragment

bp = Blueprint("workers", __name__, url_prefix="/workers")


@bp.get("/")
def index():
    return page_or_fragment("workers/index.html", "workers/_content.html")
