"""Pages of the queues area."""

from __future__ import annotations

from flask import Blueprint

from ..rendering import page_or_fragment

bp = Blueprint("queues", __name__, url_prefix="/queues")


@bp.get("/")
def index():
    return page_or_fragment("queues/index.html", "queues/_content.html")
