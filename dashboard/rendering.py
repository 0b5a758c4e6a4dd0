"""One place that decides between a full page and the fragment HTMX asked for."""

from __future__ import annotations

from flask import Response, make_response, request

from .templating import render_template


def wants_fragment() -> bool:
    """True for an HTMX request that swaps part of a page (not a boosted navigation)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def page_or_fragment(page: str, fragment: str, *, live: bool = False, **context) -> Response:
    """Render ``fragment`` for HTMX swaps and ``page`` (which includes it) otherwise."""
    template = fragment if wants_fragment() else page
    response = make_response(render_template(template, **context))
    response.vary.add("HX-Request")
    if live:
        response.headers["Cache-Control"] = "no-store"
    return response


def fragment_only(fragment: str, *, live: bool = True, status: int = 200, **context) -> Response:
    """Render a fragment that exists only to be polled or swapped (e.g. a status tile)."""
    response = make_response(render_template(fragment, **context), status)
    response.vary.add("HX-Request")
    if live:
        response.headers["Cache-Control"] = "no-store"
    return response
