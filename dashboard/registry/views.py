"""Pages of the tasks area."""

from __future__ import annotations

from flask import Blueprint

from ..rendering import page_or_fragment

bp = Blueprint("registry", __name__, url_prefix="/tasks")


@bp.get("/")
def index():
    return page_or_fragment("registry/index.html", "registry/_content.html")
