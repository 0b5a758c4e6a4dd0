"""Example tasks for the demo and the tests, taken from the original product notes."""
