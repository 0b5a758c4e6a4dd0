"""Pages of the staging area."""

from __future__ import annotations

from flask import Blueprint

from ..rendering import page_or_fragment

bp = Blueprint("staging", __name__, url_prefix="/staging")


@bp.get("/")
def index():
    return page_or_fragment("staging/index.html", "staging/_content.html")
