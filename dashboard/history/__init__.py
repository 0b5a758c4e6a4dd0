"""Result history: every run, durable across restarts."""
