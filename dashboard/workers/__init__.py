"""The workers area."""
