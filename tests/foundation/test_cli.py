"""The one command group: every process and chore is ``flask taskdeck <command>``."""

from __future__ import annotations

from werkzeug.security import check_password_hash


def test_every_command_lives_in_the_taskdeck_group(app):
    result = app.test_cli_runner().invoke(args=["taskdeck", "--help"])
    assert result.exit_code == 0
    for command in ("dispatch", "record", "reconcile", "hash-password", "prune-audit"):
        assert command in result.output
    # The areas no longer define groups of their own.
    for old in (["staging", "dispatch"], ["history", "record"]):
        assert app.test_cli_runner().invoke(args=old).exit_code != 0


def test_hash_password_prints_an_entry_that_verifies(app):
    result = app.test_cli_runner().invoke(
        args=["taskdeck", "hash-password", "ops", "admin"], input="s3cret\ns3cret\n"
    )
    assert result.exit_code == 0, result.output
    user, role, hashed = result.output.strip().splitlines()[-1].split(":", 2)
    assert (user, role) == ("ops", "admin")
    assert check_password_hash(hashed, "s3cret")
    assert not check_password_hash(hashed, "other")


def test_prune_audit_reports_what_it_deleted(app):
    result = app.test_cli_runner().invoke(args=["taskdeck", "prune-audit"])
    assert result.exit_code == 0, result.output
    assert "deleted 0 audit rows" in result.output
