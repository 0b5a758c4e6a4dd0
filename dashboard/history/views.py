"""Pages of the history area."""

from __future__ import annotations

from flask import Blueprint

from ..rendering import page_or_fragment

bp = Blueprint("history", __name__, url_prefix="/history")


@bp.get("/")
def index():
    return page_or_fragment("history/index.html", "history/_content.html")


@bp.get("/runs/<task_id>")
def run_detail(task_id: str):
    """One run's page; other areas link here by task id."""
    return page_or_fragment("history/run.html", "history/_run.html", task_id=task_id)
