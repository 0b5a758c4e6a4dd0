"""Identity, roles, audit: what makes the dashboard safe to embed in a portal."""
