"""The staging area."""
