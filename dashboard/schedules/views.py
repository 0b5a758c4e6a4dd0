"""Pages of the schedules area."""

from __future__ import annotations

from flask import Blueprint

from ..rendering import page_or_fragment
from . import models as _models  # noqa: F401 - registers the tables

bp = Blueprint("schedules", __name__, url_prefix="/schedules")


@bp.get("/")
def index():
    return page_or_fragment("schedules/index.html", "schedules/_content.html")
