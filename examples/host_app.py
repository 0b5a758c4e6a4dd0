"""An existing Flask app (a portal) that mounts Taskdeck under its own prefix.

Run it with ``flask --app examples.host_app run`` (after ``make migrate``) and open
http://127.0.0.1:5000/ : the portal's page links to the dashboard at /ops/celery/.
"""

from flask import Flask

from dashboard import dashboard


def create_portal(dashboard_config: dict | None = None) -> Flask:
    portal = Flask(__name__)
    portal.config["PORTAL_NAME"] = "Example intranet"

    @portal.get("/")
    def home():
        return '<h1>Example intranet</h1><p><a href="/ops/celery/">Celery operations</a></p>'

    # Taskdeck reads its settings from the environment; keys set on the host (or passed as
    # ``config``) win. Its routes, hooks and error pages stay under the prefix.
    portal.register_blueprint(dashboard, url_prefix="/ops/celery", config=dashboard_config)
    return portal


app = create_portal()
