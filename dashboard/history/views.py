"""Pages of the history area."""

from __future__ import annotations

from flask import Blueprint

from ..rendering import page_or_fragment

bp = Blueprint("history", __name__, url_prefix="/history")


@bp.get("/")
def index():
    return page_or_fragment("history/index.html", "history/_content.html")
