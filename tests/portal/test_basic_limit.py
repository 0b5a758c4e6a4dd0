"""Basic auth attempt limiting, kept in Redis per user name and per address: 429 with Retry-After
before any password is checked, on every host alike."""

from __future__ import annotations

import base64

from werkzeug.security import generate_password_hash


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def hosts(make_app, count: int = 2, **settings):
    users = ",".join(
        f"{name}:operator:{generate_password_hash('right', method='pbkdf2:sha256:1000')}"
        for name in ("ada", "bob")
    )
    config = {"AUTH_MODE": "basic", "AUTH_BASIC_USERS": users, "AUTH_BASIC_MAX_FAILURES": 3, **settings}
    return [make_app(**config).test_client() for _ in range(count)]


def get(client, user: str, password: str, address: str = "10.0.0.1"):
    return client.get("/queues/", headers=basic(user, password), environ_base={"REMOTE_ADDR": address})


def test_failures_past_the_limit_answer_429_on_every_host_even_with_the_right_password(make_app):
    first, second = hosts(make_app)
    assert [get(first, "ada", "wrong").status_code for _ in range(3)] == [401, 401, 401]
    blocked = get(second, "ada", "right")  # another host, the right password: still limited
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 300
    assert "Too many failed sign-ins" in blocked.get_data(as_text=True)
    # The name is limited from any address; the address is limited for any name.
    assert get(first, "ada", "right", address="10.0.0.2").status_code == 429
    assert get(first, "bob", "right", address="10.0.0.1").status_code == 429
    assert get(first, "bob", "right", address="10.0.0.3").status_code == 200


def test_unknown_names_count_too_and_successes_do_not(make_app):
    (client,) = hosts(make_app, 1)
    for _ in range(5):
        assert get(client, "bob", "right", address="10.0.0.9").status_code == 200
    assert [get(client, "nobody", "x", address="10.0.0.8").status_code for _ in range(3)] == [401] * 3
    assert get(client, "nobody", "x", address="10.0.0.8").status_code == 429


def test_the_window_is_configurable_and_zero_failures_means_no_limit(make_app, redis_client, key_prefix):
    (client,) = hosts(make_app, 1, AUTH_BASIC_MAX_FAILURES=0)
    assert {get(client, "ada", "wrong").status_code for _ in range(6)} == {401}
    (client,) = hosts(make_app, 1, AUTH_BASIC_FAILURE_WINDOW=60)
    for _ in range(3):
        get(client, "bob", "wrong", address="10.1.1.1")
    ttls = [redis_client.pttl(key) for key in redis_client.scan_iter(f"{key_prefix}auth:failures:*")]
    assert ttls and all(0 < ttl <= 60_000 for ttl in ttls)
