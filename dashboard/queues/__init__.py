"""The queues area."""
