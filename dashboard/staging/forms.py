"""HTML forms of the staging page (the token is checked on every unsafe route: dashboard/csrf.py)."""

from __future__ import annotations

import json

from flask_babel import lazy_gettext as _l
from wtforms import DecimalField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from ..csrf import DashboardForm
from .service import MAX_LOW_WATER, MAX_RATE


class PolicyForm(DashboardForm):
    class Meta:
        csrf = False  # the route check (dashboard/csrf.py) already checks every POST

    state = SelectField(
        _l("Dispatcher"),
        choices=[SelectChoice("running", _l("running")), SelectChoice("paused", _l("paused"))],
    )
    low_water = IntegerField(
        _l("Release while the queue holds fewer than"), validators=[NumberRange(min=1, max=MAX_LOW_WATER)]
    )
    max_rate = DecimalField(
        _l("Maximum releases per second (0 = no limit)"),
        validators=[Optional(), NumberRange(min=0, max=MAX_RATE)],
    )


class ItemForm(DashboardForm):
    class Meta:
        csrf = False

    args = TextAreaField(_l("Positional arguments (JSON list)"))
    kwargs = TextAreaField(_l("Keyword arguments (JSON object)"))
    queue = StringField(_l("Queue"), validators=[Optional()])
    priority = StringField(_l("Priority (0-9)"), validators=[Optional()])
    countdown = StringField(_l("Countdown after release (seconds)"), validators=[Optional()])
    eta = StringField(_l("ETA (ISO 8601)"), validators=[Optional()])
    expires = StringField(_l("Expires (seconds or ISO 8601)"), validators=[Optional()])
    note = StringField(_l("Note"), validators=[Optional()])

    def load(self, item) -> None:
        """Fill the fields from a staged item."""
        self.args.data = json.dumps(item.args)
        self.kwargs.data = json.dumps(item.kwargs)
        for name in ("queue", "priority", "countdown", "eta", "expires"):
            value = item.options.get(name)
            getattr(self, name).data = "" if value is None else str(value)
        self.note.data = item.note

    def item_data(self, task: str) -> dict:
        """Request data for ``service.build_item``: the arguments stay JSON text, which the run
        model decodes (refusing bad JSON next to its field), as for the API."""
        options = {
            name: (getattr(self, name).data or "").strip() or None
            for name in ("queue", "priority", "countdown", "eta", "expires")
        }
        return {
            "task": task,
            "args": self.args.data or "",
            "kwargs": self.kwargs.data or "",
            "options": options,
            "note": (self.note.data or "").strip(),
        }
