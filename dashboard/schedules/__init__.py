"""The schedules area."""
