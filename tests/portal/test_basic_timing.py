"""A refused name answers in the time a refused password takes: timing does not list the users."""

from __future__ import annotations

import base64
import statistics
import time

from werkzeug.security import generate_password_hash

ROUNDS = 15


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _median_refusal(client, user: str) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = client.get("/queues/", headers=_basic(user, "wrong"))
        times.append(time.perf_counter() - started)
        assert response.status_code == 401
    return statistics.median(times)


def test_unknown_and_known_users_are_refused_in_about_the_same_time(make_app):
    # werkzeug's default method (scrypt), as production hashes are made: its cost is what shows.
    users = f"ada:admin:{generate_password_hash('right')}"
    # No attempt limit here: the test refuses many times on purpose (the limit is tested apart).
    client = make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=users, AUTH_BASIC_MAX_FAILURES=0).test_client()
    _median_refusal(client, "ada")  # warm up
    known = _median_refusal(client, "ada")
    unknown = _median_refusal(client, "nobody-by-this-name")
    # A ratio of medians measured side by side: without the decoy check the unknown name is
    # refused about 100 times faster.
    assert 0.5 < unknown / known < 2.0, (unknown, known)
