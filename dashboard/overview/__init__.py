"""The overview: is everything up, at a glance."""
