"""Behind Debian's nginx, with the exact block docs/deploy.md gives, under /ops/celery/: a client's
own identity headers give it nothing, and in chromium every request the dashboard makes (pages,
assets, htmx polls, a form post, the language links) stays under the prefix."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from tests.support.servers import (
    ROOT,
    GunicornServer,
    free_port,
    host_environment,
    procfile_gunicorn_options,
    wait_until,
)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
PREFIX = "/ops/celery"
PASSWORD = "portal-secret"
SIGNED_IN = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}


def documented_block() -> str:
    """The nginx block of docs/deploy.md's "Behind nginx under a sub-path", as written there."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    section = text.split("## Behind nginx under a sub-path", 1)[1]
    return re.search(r"```nginx\n(.*?)```", section, re.S)[1]


@pytest.fixture
def dashboard(tmp_path, redis_server, database_url, key_prefix):
    env = host_environment(redis_server.url, database_url, key_prefix, "nginx-test-secret")
    env.update(
        AUTH_MODE="header",
        AUTH_GROUP_ROLES="ops-admins=admin",
        AUTH_DEFAULT_ROLE="operator",  # the block clears the groups: every portal user is an operator
        AUTH_TRUSTED_PROXIES="127.0.0.1",
        PROXY_FIX_COUNT="1",
    )
    server = GunicornServer(env, tmp_path / "gunicorn.log", options=procfile_gunicorn_options()).start()
    yield server
    server.stop()


@pytest.fixture
def nginx(tmp_path, dashboard):
    """nginx in front of the dashboard: the portal signs users in (Basic) and the documented
    block passes them on; nothing else is added."""
    if not os.path.exists(NGINX):
        pytest.fail(f"{NGINX} is missing: run 'make proxy' (installs Debian's nginx)")
    home = tmp_path / "nginx"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (home / sub).mkdir(parents=True)
    (home / "htpasswd").write_text(f"alice:{{PLAIN}}{PASSWORD}\n")
    port = free_port()
    block = documented_block().replace("http://127.0.0.1:8000/", f"http://127.0.0.1:{dashboard.port}/")
    temp_paths = {
        "client_body": "body",
        "proxy": "proxy",
        "fastcgi": "fastcgi",
        "uwsgi": "uwsgi",
        "scgi": "scgi",
    }
    temp = "\n".join(f"  {kind}_temp_path {home / sub};" for kind, sub in temp_paths.items())
    (home / "nginx.conf").write_text(
        f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
pid {home / "nginx.pid"};
error_log {home / "error.log"} info;
events {{}}
http {{
  access_log {home / "access.log"};
{temp}
  server {{
    listen 127.0.0.1:{port};
    auth_basic "portal";
    auth_basic_user_file {home / "htpasswd"};
{block}
  }}
}}
"""
    )
    log = open(home / "stdout.log", "ab")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(
        [NGINX, "-p", str(home), "-c", str(home / "nginx.conf")], stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: answer(base, f"{PREFIX}/healthz")[0] == 200, 30, what="nginx")
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()


def answer(base: str, path: str, headers: dict | None = None) -> tuple[int, str]:
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    request = urllib.request.Request(
        base + path, headers={"Authorization": f"Basic {token}", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_identity_headers_a_client_sends_give_it_nothing(nginx):
    status, page = answer(nginx, f"{PREFIX}/queues/")
    assert status == 200 and re.findall(r'class="whoami"[^>]*>([^<]*)<', page) == ["alice · operator"]
    forged = {"X-Forwarded-Groups": "ops-admins", "X-Forwarded-User": "root", "X-Taskdeck-Language": "zh_CN"}
    status, page = answer(nginx, f"{PREFIX}/queues/", forged)
    assert status == 200 and re.findall(r'class="whoami"[^>]*>([^<]*)<', page) == ["alice · operator"]
    assert 'lang="en"' in page
    assert answer(nginx, f"{PREFIX}/audit/", forged)[0] == 403  # admin only: the groups were cleared

    # The slash redirect keeps the address, port included.
    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(f"{nginx}{PREFIX}/queues", headers=SIGNED_IN)
    with pytest.raises(urllib.error.HTTPError) as redirect:
        urllib.request.build_opener(Keep).open(request, timeout=10)
    assert redirect.value.code in (301, 308)
    assert redirect.value.headers["Location"] in (f"{nginx}{PREFIX}/queues/", f"{PREFIX}/queues/")


@pytest.mark.browser
def test_every_request_of_a_browser_walk_stays_under_the_prefix(browser, nginx):
    from tests.conftest import open_tab

    tab = open_tab(browser, http_credentials={"username": "alice", "password": PASSWORD})
    seen: list[tuple[str, str, int]] = []
    tab.on("response", lambda r: seen.append((r.request.method, r.url, r.status)))
    tab.context.add_cookies([{"name": "td_poll_staging", "value": "2", "url": nginx}])
    for path in ("/", "/tasks/", "/queues/", "/schedules/", "/history/", "/workers/"):
        tab.goto(f"{nginx}{PREFIX}{path}")
        tab.wait_for_load_state("networkidle")
    with tab.expect_response(lambda r: r.request.headers.get("hx-request") == "true", timeout=20_000):
        tab.goto(f"{nginx}{PREFIX}/staging/")  # polls every 2 s
    tab.get_by_role("button", name="Save policy").click()
    tab.wait_for_load_state("networkidle")
    tab.get_by_role("link", name="简体中文").first.click()
    tab.wait_for_load_state("networkidle")
    assert tab.locator("html").get_attribute("lang") == "zh-CN"
    tab.get_by_role("link", name="English").first.click()
    tab.wait_for_load_state("networkidle")
    assert tab.locator("html").get_attribute("lang") == "en"
    outside = [(m, u, s) for m, u, s in seen if not u.startswith(f"{nginx}{PREFIX}/")]
    assert outside == []
    assert [(m, u, s) for m, u, s in seen if s >= 400] == []
    assert any(m == "POST" for m, _, _ in seen)  # the form post went through the portal too
    assert any("/static/" in u for _, u, _ in seen)
    assert tab.console_errors == []
    tab.context.close()
