"""The create/edit form. Validation lives in the service, shared with the JSON API."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..csrf import DashboardForm
from .service import EDITABLE


class ScheduleForm(DashboardForm):
    name = StringField(_l("Name"))
    task = StringField(_l("Task"))
    kind = RadioField(
        _l("Kind"),
        choices=[
            SelectChoice("interval", _l("Interval")),
            SelectChoice("cron", _l("Cron")),
            SelectChoice("once", _l("Once")),
        ],
        default="interval",
    )
    timezone = StringField(_l("Time zone"), default="UTC")
    run_at = StringField(
        _l("Run at (in the schedule's zone)"), render_kw={"type": "datetime-local", "step": "1"}
    )
    interval_every = StringField(_l("Every"), render_kw={"type": "number", "min": "1", "step": "1"})
    interval_unit = SelectField(
        _l("Unit"),
        choices=[
            SelectChoice("seconds", _l("seconds")),
            SelectChoice("minutes", _l("minutes")),
            SelectChoice("hours", _l("hours")),
            SelectChoice("days", _l("days")),
        ],
        default="seconds",
    )
    cron = StringField(
        _l("Cron expression"),
        render_kw={"placeholder": _l("*/5 * * * *  (or 6 fields: seconds first)"), "autocomplete": "off"},
    )
    args = TextAreaField(_l("Positional arguments (JSON list)"), default="[]", render_kw={"rows": 2})
    kwargs = TextAreaField(_l("Keyword arguments (JSON object)"), default="{}", render_kw={"rows": 2})
    queue = StringField(_l("Queue (empty: the task's routing)"))
    priority = StringField(_l("Priority"), render_kw={"type": "number", "min": "0", "max": "9"})
    expires_seconds = StringField(
        _l("Message expires after (seconds)"), render_kw={"type": "number", "min": "1"}
    )
    start_at = StringField(_l("Start"), render_kw={"type": "datetime-local", "step": "1"})
    end_at = StringField(_l("End"), render_kw={"type": "datetime-local", "step": "1"})
    description = TextAreaField(_l("Description"), render_kw={"rows": 2})
    enable_now = BooleanField(_l("Enable now"))

    # The fields that define a schedule, in the service's order.
    DEFINITION = EDITABLE

    def to_data(self) -> dict:
        """The submitted definition as the service takes it."""
        data = {name: self[name].data for name in self.DEFINITION}
        data["enable_now"] = bool(self.enable_now.data)
        return data

    def show_error(self, field: str | None, message: str) -> None:
        """Put a service refusal next to its field (or at the top of the form)."""
        target = field if field in self.DEFINITION or field == "enable_now" else None
        if target is None:
            self.form_errors.append(message)
        else:
            self[target].errors = [*list(self[target].errors or []), message]
