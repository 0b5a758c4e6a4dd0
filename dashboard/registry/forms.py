"""The Run form: built per task from its signature, turned into a run request for the service."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import Field, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from ..core.bounds import InvalidRunOption
from ..csrf import DashboardForm
from .catalogue import TaskInfo

PARAM_PREFIX = "p__"
WHEN_CHOICES = [
    SelectChoice("now", _l("Run now")),
    SelectChoice("countdown", _l("After a countdown")),
    SelectChoice("eta", _l("At a date and time")),
]
SUBMISSION_CHOICES = [
    SelectChoice("direct", _l("Send to Celery now")),
    SelectChoice("staged", _l("Put in the staging list instead")),
    SelectChoice("auto", _l("Auto: send when idle, stage when busy")),
]
MODE_CHOICES = [
    SelectChoice("fields", _l("One field per parameter")),
    SelectChoice("json", _l("Raw JSON args and kwargs")),
]


class RunForm(DashboardForm):
    """Options shared by every task; parameter fields are added by ``run_form_class``."""

    mode = RadioField(_l("Arguments"), choices=MODE_CHOICES, default="fields")
    args = TextAreaField(_l("Positional args (JSON list)"), default="[]")
    kwargs = TextAreaField(_l("Keyword args (JSON object)"), default="{}")
    when = RadioField(_l("When"), choices=WHEN_CHOICES, default="now")
    countdown = StringField(_l("Countdown (seconds)"))
    eta = StringField(_l("ETA"))
    # Choices are filled per request; the service decides what is valid, with its own message.
    timezone = SelectField(_l("Time zone"), validate_choice=False)
    expires = StringField(_l("Expires after (seconds)"))
    queue = SelectField(_l("Queue"), validate_choice=False)
    priority = SelectField(
        _l("Priority"),
        choices=[SelectChoice("", "none")] + [SelectChoice(str(n)) for n in range(10)],
        default="",
        validate_choice=False,
    )
    # The service checks the value (and names this field when it is not one of the choices).
    submission = RadioField(
        _l("Submission"), choices=SUBMISSION_CHOICES, default="direct", validate_choice=False
    )
    note = StringField(_l("Note (kept with a staged run)"))

    def parameter_fields(self) -> list[tuple[object, Field]]:
        """(Parameter, field) pairs in signature order."""
        return [(param, self[PARAM_PREFIX + param.name]) for param in self.task_info.parameters or ()]

    def run_data(self) -> dict[str, object]:
        """The form as the ``data`` mapping ``parse_run_request`` takes."""
        data: dict[str, object] = {
            "task": self.task_info.name,
            "timezone": self.timezone.data,
            "queue": self.queue.data,
            "priority": self.priority.data,
            "expires": self.expires.data,
        }
        if self.mode.data == "json" or not self.task_info.parameters:
            data["args"] = self.args.data
            data["kwargs"] = self.kwargs.data
        else:
            data["params_json"] = {param.name: field.data for param, field in self.parameter_fields()}
        if self.when.data == "countdown":
            if not (self.countdown.data or "").strip():
                raise InvalidRunOption(_l("give the countdown in seconds"), field="countdown")
            data["countdown"] = self.countdown.data
        elif self.when.data == "eta":
            if not (self.eta.data or "").strip():
                raise InvalidRunOption(_l("give the date and time to run at"), field="eta")
            data["eta"] = self.eta.data
        return data

    def show_error(self, field_name: str | None, message: str) -> None:
        """Put a service error next to the field it names (or at the top of the form)."""
        if field_name and field_name.startswith("params."):
            field_name = PARAM_PREFIX + field_name.split(".", 1)[1]
        if field_name in ("args", "kwargs") and self.mode.data != "json" and self.task_info.parameters:
            self.parameter_errors.append(message)
            return
        target = self._fields.get(field_name) if field_name else None
        if target is not None:
            target.errors = [*target.errors, message]
        else:
            self.general_errors.append(message)


def run_form_class(info: TaskInfo) -> type[RunForm]:
    """A RunForm subclass with one JSON field per parameter of ``info``."""
    fields: dict[str, object] = {"task_info": info}
    for param in info.parameters or ():
        fields[PARAM_PREFIX + param.name] = StringField(param.display)
    return type("TaskRunForm", (RunForm,), fields)


def build_run_form(
    info: TaskInfo, queues: list[str], default_queue: str | None, zones: list[str], zone: str, formdata=None
) -> RunForm:
    """The Run form for ``info`` with its choices filled; ``formdata`` None reads the request."""
    cls = run_form_class(info)
    form = cls(formdata=formdata) if formdata is not None else cls()
    form.general_errors = []
    form.parameter_errors = []
    form.queue.choices = [
        SelectChoice("", _l("default route (%(queue)s)", queue=default_queue or _l("Celery decides")))
    ] + [SelectChoice(name) for name in queues]
    form.timezone.choices = [SelectChoice(name) for name in zones]
    if not form.is_submitted():
        form.timezone.data = zone
        if not info.parameters:
            form.mode.data = "json"
    return form


def prefill_from_run(form: RunForm, run) -> None:
    """Start ``form`` from a recorded run (``core.runs.TaskRun``): its arguments as raw JSON and
    its queue, for the operator to edit before sending (the history's "clone into the run form")."""
    form.mode.data = "json"
    form.args.data = run.args or "[]"
    form.kwargs.data = run.kwargs or "{}"
    if run.queue and any(choice.value == run.queue for choice in form.queue.choices):
        form.queue.data = run.queue
