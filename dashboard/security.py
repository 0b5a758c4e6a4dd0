"""What makes the dashboard safe to mount in a portal: proxies, framing, headers, embed mode."""

from __future__ import annotations

from flask import Flask, Response, request, session
from werkzeug.middleware.proxy_fix import ProxyFix

from .mount import settings, url_for


def install_proxy_fix(app: Flask) -> None:
    """Trust ``X-Forwarded-For/-Proto/-Host/-Prefix`` from ``PROXY_FIX_COUNT`` proxies (0 = none)."""
    count = int(app.config.get("PROXY_FIX_COUNT") or 0)
    if count and not isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_prefix=count)


def peer_address() -> str | None:
    """The address that really connected, before ProxyFix rewrote ``remote_addr``."""
    original = request.environ.get("werkzeug.proxy_fix.orig", {})
    return original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR")


def content_security_policy() -> str:
    ancestors = settings()["FRAME_ANCESTORS"]
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            # htmx adds its indicator styles at run time.
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "base-uri 'self'",
            "form-action 'self'",
            "object-src 'none'",
            f"frame-ancestors {ancestors}",
        )
    )


def add_headers(response: Response) -> Response:
    """Security headers on every dashboard response."""
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def embed_mode() -> bool:
    """True without the app's own chrome: ``EMBED`` config, or ``?embed=1`` (sticky for the session)."""
    flag = request.args.get("embed")
    if flag in ("1", "0"):
        session["embed"] = flag == "1"
    return bool(settings().get("EMBED")) or bool(session.get("embed"))


def asset_url(filename: str) -> str:
    """URL of a file under ``static/``, wherever the dashboard is mounted."""
    return url_for("static", filename=filename)
