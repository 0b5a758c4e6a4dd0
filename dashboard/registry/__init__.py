"""The registry area."""
