"""The create/edit form. Validation lives in the service, shared with the JSON API."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from .service import EDITABLE
from .timing import UNITS


class ScheduleForm(FlaskForm):
    name = StringField("Name")
    task = StringField("Task")
    kind = RadioField(
        "Kind",
        choices=[
            SelectChoice("interval", "Interval"),
            SelectChoice("cron", "Cron"),
            SelectChoice("once", "Once"),
        ],
        default="interval",
    )
    timezone = StringField("Time zone", default="UTC")
    run_at = StringField("Run at (in the schedule's zone)", render_kw={"type": "datetime-local", "step": "1"})
    interval_every = StringField("Every", render_kw={"type": "number", "min": "1", "step": "1"})
    interval_unit = SelectField("Unit", choices=list(UNITS), default="seconds")
    cron = StringField(
        "Cron expression",
        render_kw={"placeholder": "*/5 * * * *  (or 6 fields: seconds first)", "autocomplete": "off"},
    )
    args = TextAreaField("Positional arguments (JSON list)", default="[]", render_kw={"rows": 2})
    kwargs = TextAreaField("Keyword arguments (JSON object)", default="{}", render_kw={"rows": 2})
    queue = StringField("Queue (empty: the task's routing)")
    priority = StringField("Priority", render_kw={"type": "number", "min": "0", "max": "255"})
    expires_seconds = StringField("Message expires after (seconds)", render_kw={"type": "number", "min": "1"})
    start_at = StringField("Start", render_kw={"type": "datetime-local", "step": "1"})
    end_at = StringField("End", render_kw={"type": "datetime-local", "step": "1"})
    description = TextAreaField("Description", render_kw={"rows": 2})
    enable_now = BooleanField("Enable now")

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
