"""An existing Flask app (an intranet portal) that mounts Taskdeck twice.

The portal has what a real one has: its own Flask-SQLAlchemy database (its notes), CSRFProtect
on its forms, Flask-Babel with its own language rule (``?hl=``, French by default) and a Jinja
global of its own. It mounts the dashboard at ``/ops/celery/`` (blueprint ``taskdeck``, Redis keys
under ``taskdeck:``) and at ``/ops/batch/`` (blueprint ``taskdeck_batch``, keys under ``batch:``),
each with its own database; none of the portal's own behaviour changes (tests/portal/test_host_app.py).

Run it against the system ``make run`` started::

    flask --app examples.host_app taskdeck migrate --mount taskdeck
    flask --app examples.host_app taskdeck migrate --mount taskdeck_batch
    flask --app examples.host_app run    # http://127.0.0.1:5000/
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, redirect, render_template_string, request, url_for
from flask_babel import Babel, get_locale
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from dashboard import dashboard

INSTANCE = Path(__file__).resolve().parent.parent / "instance" / "portal"
MOUNTS = (("/ops/celery", "taskdeck", "taskdeck:"), ("/ops/batch", "taskdeck_batch", "batch:"))

db = SQLAlchemy()
csrf = CSRFProtect()
babel = Babel()


class Note(db.Model):
    __tablename__ = "portal_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


HOME = """<!doctype html>
<html lang="{{ locale }}">
<head><meta charset="utf-8"><link rel="icon" href="data:,"><title>{{ portal_name }}</title></head>
<body>
<h1>{{ portal_name }}</h1>
<p>Language: <span id="portal-locale">{{ locale }}</span></p>
<nav><a href="/ops/celery/">Celery operations</a> | <a href="/ops/batch/">Batch cluster</a></nav>
<form method="post" action="{{ url_for('add_note') }}">
  <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
  <label>Note <input name="text" maxlength="200"></label> <button>Add</button>
</form>
<ul id="notes">{% for note in notes %}<li>{{ note.text }}</li>{% endfor %}</ul>
<iframe id="operations" name="operations" src="/ops/celery/?embed=1" title="Celery operations"
        width="100%" height="700"></iframe>
</body>
</html>
"""


def portal_locale() -> str:
    """The portal's own rule; the dashboard's ``?lang=`` and language links do not change it."""
    return request.args.get("hl") or "fr"


def create_portal(
    first: dict | None = None,
    second: dict | None = None,
    *,
    mount: bool = True,
    database_url: str | None = None,
    secret_key: str | None = None,
    instance_path: Path = INSTANCE,
) -> Flask:
    """The portal; ``first`` and ``second`` are the two mounts' ``config=`` (they win over the
    environment); ``mount=False`` is the same portal without the dashboard."""
    instance_path.mkdir(parents=True, exist_ok=True)
    portal = Flask(__name__, instance_path=str(instance_path))
    portal.config["SECRET_KEY"] = secret_key or os.environ.get("PORTAL_SECRET_KEY") or "portal-example-only"
    portal.config["SQLALCHEMY_DATABASE_URI"] = database_url or f"sqlite:///{instance_path / 'portal.db'}"
    db.init_app(portal)
    csrf.init_app(portal)
    babel.init_app(portal, locale_selector=portal_locale)
    portal.jinja_env.globals["portal_name"] = "Example intranet"

    @portal.get("/")
    def home():
        notes = db.session.scalars(db.select(Note).order_by(Note.id)).all()
        return render_template_string(HOME, notes=notes, locale=str(get_locale()))

    @portal.post("/notes")
    def add_note():
        db.session.add(Note(text=request.form.get("text", "")[:200]))
        db.session.commit()
        return redirect(url_for("home"))

    with portal.app_context():
        db.create_all()
    if mount:
        for (prefix, name, key_prefix), overrides in zip(MOUNTS, (first, second), strict=True):
            config = {"TASKDECK_KEY_PREFIX": key_prefix, **(overrides or {})}
            portal.register_blueprint(dashboard, url_prefix=prefix, name=name, config=config)
    return portal


def create_app() -> Flask:
    """What ``flask --app examples.host_app`` finds."""
    return create_portal()
