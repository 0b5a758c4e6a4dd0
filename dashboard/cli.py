"""The dashboard's command line: one group, ``flask --app wsgi:app taskdeck ...``.

``dispatch`` and ``record`` are the long-running processes of the Procfile; the others are
one-off chores. Each command imports what it runs when it runs, so ``flask --help`` stays cheap.
"""

from __future__ import annotations

import logging
import signal

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from .mount import settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_commands(group: AppGroup) -> None:
    """Attach every command to ``group`` (the dashboard blueprint's ``taskdeck`` group)."""
    for command in (migrate, dispatch, record, reconcile, hash_password, prune_audit, demo):
        group.add_command(command)


def _stop_on_signals() -> list[bool]:
    """A flag list that SIGTERM and SIGINT append to, for loops that finish their step first."""
    stopping: list[bool] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.append(True))
    return stopping


@click.command("migrate")
@click.option("--mount", "mount_name", default=None, help="Which mount's database (default: the first).")
@click.option("--revision", default="heads", show_default=True)
@with_appcontext
def migrate(mount_name: str | None, revision: str) -> None:
    """Bring the dashboard's tables up to date in a mount's own database (a host app's too)."""
    from alembic import command
    from alembic.config import Config
    from flask import g

    from .mount import mounts
    from .setup import ROOT

    known = mounts()
    name = mount_name or next(iter(known))
    if name not in known:
        raise click.BadParameter(f"not a mount of this app: {', '.join(known)}", param_hint="--mount")
    g.taskdeck_mount = name
    directory = ROOT / "migrations"
    alembic_config = Config(str(directory / "alembic.ini"))
    alembic_config.set_main_option("script_location", str(directory))
    command.upgrade(alembic_config, revision)
    click.echo(f"{name}: migrated to {revision}")


@click.command("dispatch")
@with_appcontext
def dispatch() -> None:
    """Release the staging list into Celery under the policy set on the page (until stopped)."""
    from .staging.dispatcher import Dispatcher

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    Dispatcher(current_app._get_current_object()).run()


@click.command("record")
@with_appcontext
def record() -> None:
    """Record Celery task events into the history (the Procfile's ``recorder``)."""
    from .history.recorder import Recorder

    stopping = _stop_on_signals()
    recorder = Recorder(current_app._get_current_object())
    click.echo(f"recorder {recorder.owner}: recording task events (Ctrl-C stops)")
    recorder.run(lambda: bool(stopping))
    click.echo("recorder stopped")


@click.command("reconcile")
@with_appcontext
def reconcile() -> None:
    """Fill unfinished and unknown runs from the result backend once, then exit."""
    from .history.recorder import Recorder

    written = Recorder(current_app._get_current_object()).reconcile(full=True)
    click.echo(f"{written} runs updated from the result backend")


@click.command("hash-password")
@click.argument("user")
@click.argument("role", type=click.Choice(["viewer", "operator", "admin"]))
@click.password_option()
def hash_password(user: str, role: str, password: str) -> None:
    """Print an AUTH_BASIC_USERS entry for USER with ROLE."""
    from werkzeug.security import generate_password_hash

    click.echo(f"{user}:{role}:{generate_password_hash(password)}")


@click.command("prune-audit")
@with_appcontext
def prune_audit() -> None:
    """Delete audit rows older than AUDIT_RETENTION_DAYS, in batches."""
    from .extensions import db
    from .portal.service import prune_audit as prune

    total = 0
    while deleted := prune(db.session, settings()["AUDIT_RETENTION_DAYS"]):
        total += deleted
    click.echo(f"deleted {total} audit rows")


@click.command("demo")
@click.option(
    "--size", type=click.Choice(["small", "large"]), default="small", show_default=True, help="How much work."
)
@click.option(
    "--hold",
    type=click.IntRange(min=30),
    default=300,
    show_default=True,
    help="Seconds the unfinished runs (STARTED, PROGRESS, RECEIVED, RETRY) stay unfinished.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the history at each step that needs it.",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="At the end, wait until the history shows every run in its state.",
)
@with_appcontext
def demo(size: str, hold: int, timeout: float, wait: bool) -> None:
    """Fill the running system with the demo data set (docs/demo.md): every state, origin and queue."""
    from .demo import SIZES, HistoryTimeout, SystemNotReady, fill

    try:
        summary = fill(SIZES[size], hold=hold, timeout=timeout, wait=wait, echo=click.echo)
    except (SystemNotReady, HistoryTimeout) as exc:
        raise click.ClickException(str(exc)) from exc
    for line in summary.lines():
        click.echo(line)
