"""Pages show each control only to roles that may use it; confirmation pages refuse the others."""

import re
import uuid

import pytest

from dashboard.core.runs import record_sent
from dashboard.extensions import db
from dashboard.mount import url_for
from tests.portal.test_identity import basic
from tests.support.pages import page_rules

# Controls that change state: a form that posts, or an element htmx sends with a mutating verb.
MUTATING = re.compile(r'method\s*=\s*"?post"?|hx-(post|put|patch|delete)\s*=', re.IGNORECASE)
DOWNLOADS = {"schedules.export_json", "schedules.export_csv"}
# Argument-free pages a viewer may not open at all.
REFUSED_TO_VIEWER = {"audit.index", "schedules.new"}


@pytest.fixture
def role_app(make_app, basic_users):
    return make_app(AUTH_MODE="basic", AUTH_BASIC_USERS=basic_users)


@pytest.fixture
def scene(app, client, celery_app, redis_client, stage):
    """Real data on every area's detail pages: a waiting message, two staged items, a schedule, a run."""
    queue = f"roles-{uuid.uuid4().hex[:8]}"
    message_id = celery_app.send_task("tasks.add", (2, 3), queue=queue).id
    staged = stage(2)
    created = client.post(
        "/api/v1/schedules",
        json={
            "name": f"roles-{queue}",
            "task": "tasks.add",
            "kind": "cron",
            "cron": "*/5 * * * *",
            "args": [1, 2],
        },
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    run_id = str(uuid.uuid4())
    with app.app_context():
        record_sent(
            db.session,
            task_id=run_id,
            name="tasks.add",
            args="[1, 2]",
            kwargs="{}",
            queue="celery",
            origin="operator",
        )
        db.session.commit()
    yield {
        "queue": queue,
        "message_id": message_id,
        "staged": staged,
        "schedule_id": created.get_json()["id"],
        "run_id": run_id,
    }
    redis_client.delete(queue)


def urls(app, **endpoints) -> dict[str, str]:
    """``url_for`` each ``name=(endpoint, kwargs)`` as the app's own templates would."""
    with app.test_request_context():
        return {name: url_for(endpoint, **kwargs) for name, (endpoint, kwargs) in endpoints.items()}


def detail_pages(role_app, scene, hostname) -> dict[str, str]:
    return urls(
        role_app,
        task=("registry.task_detail", {"name": "tasks.add"}),
        queue=("queues.detail", {"name": scene["queue"]}),
        staging=("staging.index", {}),
        schedules=("schedules.index", {}),
        run=("history.run_detail", {"task_id": scene["run_id"]}),
        worker=("workers.detail", {"hostname": hostname}),
    )


def page(client, url: str, user: str) -> str:
    response = client.get(url, headers=basic(user))
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def test_viewer_sees_no_control_that_changes_state_on_any_page(role_app, scene, celery_worker):
    client = role_app.test_client()
    checked = []
    for rule in page_rules(role_app):
        if rule.endpoint.removeprefix("taskdeck.") in DOWNLOADS:
            continue
        response = client.get(rule.rule, headers=basic("vera"))
        if rule.endpoint.removeprefix("taskdeck.") in REFUSED_TO_VIEWER:
            assert response.status_code == 403, rule.rule
        else:
            assert response.status_code < 500, rule.rule
        found = MUTATING.search(response.get_data(as_text=True))
        assert found is None, (rule.rule, found and found.group(0))
        checked.append(rule.rule)
    assert {"/", "/queues/", "/staging/", "/schedules/", "/history/", "/workers/", "/tasks/"} <= set(checked)

    for name, url in detail_pages(role_app, scene, celery_worker.hostname).items():
        html = page(client, url, "vera")
        found = MUTATING.search(html)
        assert found is None, (name, found and found.group(0))
        assert "read-only for your role" in html, name
    # No empty actions column where every action was left out.
    worker = page(client, detail_pages(role_app, scene, celery_worker.hostname)["worker"], "vera")
    assert "Routing key" in worker and ">Actions<" not in worker
    # The viewer still sees what is there.
    assert scene["message_id"] in page(client, f"/queues/{scene['queue']}", "vera")
    staging = page(client, "/staging/", "vera")
    assert all(item_id in staging for item_id in scene["staged"])
    assert "staging-handle" not in staging and "data-move-url" not in staging
    assert f"roles-{scene['queue']}" in page(client, "/schedules/", "vera")


def test_overview_without_controls_says_nothing_about_roles(role_app):
    html = page(role_app.test_client(), "/", "vera")
    assert "read-only for your role" not in html


def test_operator_sees_operator_controls_but_not_admin_ones(role_app, scene, celery_worker):
    client = role_app.test_client()
    host = celery_worker.hostname
    pages = detail_pages(role_app, scene, host)
    u = urls(
        role_app,
        run=("registry.run", {"name": "tasks.add"}),
        move=("staging.move_item", {"item_id": scene["staged"][0]}),
        delete_message=("queues.delete_message", {"name": scene["queue"], "task_id": scene["message_id"]}),
        purge=("queues.purge", {"name": scene["queue"]}),
        new_schedule=("schedules.new", {}),
        trigger=("schedules.trigger", {"schedule_id": scene["schedule_id"]}),
        delete_schedule=("schedules.delete", {"schedule_id": scene["schedule_id"]}),
        import_schedules=("schedules.import_file", {}),
        retry=("history.retry", {"task_id": scene["run_id"]}),
        pause=("workers.control_cancel_consumer", {"hostname": host}),
        shutdown=("workers.control_shutdown", {"hostname": host}),
        confirm_shutdown=("workers.confirm", {"hostname": host, "command": "shutdown"}),
        pool_grow=("workers.control_pool_grow", {"hostname": host}),
    )

    assert f'hx-post="{u["run"]}"' in page(client, pages["task"], "otto")
    staging = page(client, pages["staging"], "otto")
    assert f'hx-post="{u["move"]}"' in staging and "staging-handle" in staging
    queue = page(client, pages["queue"], "otto")
    assert f'hx-post="{u["delete_message"]}"' in queue
    assert u["purge"] not in queue
    assert "some actions need the admin role" in queue
    schedules = page(client, pages["schedules"], "otto")
    assert f'hx-post="{u["trigger"]}"' in schedules
    assert u["new_schedule"] not in schedules
    assert u["delete_schedule"] not in schedules
    assert u["import_schedules"] not in schedules
    assert f'hx-post="{u["retry"]}"' in page(client, pages["run"], "otto")
    worker = page(client, pages["worker"], "otto")
    assert u["pause"] in worker
    assert u["shutdown"] not in worker and u["confirm_shutdown"] not in worker
    assert u["pool_grow"] not in worker
    assert "read-only for your role" not in worker


def test_admin_sees_admin_controls(role_app, scene, celery_worker):
    client = role_app.test_client()
    host = celery_worker.hostname
    pages = detail_pages(role_app, scene, host)
    u = urls(
        role_app,
        purge=("queues.purge", {"name": scene["queue"]}),
        new_schedule=("schedules.new", {}),
        delete_schedule=("schedules.delete", {"schedule_id": scene["schedule_id"]}),
        enable_schedule=("schedules.enable", {"schedule_id": scene["schedule_id"]}),
        import_schedules=("schedules.import_file", {}),
        bulk_delete=("history.bulk_delete", {}),
        shutdown=("workers.control_shutdown", {"hostname": host}),
        pool_grow=("workers.control_pool_grow", {"hostname": host}),
    )
    queue = page(client, pages["queue"], "ada")
    assert f'hx-post="{u["purge"]}"' in queue
    assert "some actions need" not in queue and "read-only for your role" not in queue
    schedules = page(client, pages["schedules"], "ada")
    for key in ("new_schedule", "delete_schedule", "enable_schedule", "import_schedules"):
        assert u[key] in schedules, key
    assert u["bulk_delete"] in page(client, "/history/", "ada")
    worker = page(client, pages["worker"], "ada")
    assert f'hx-post="{u["shutdown"]}"' in worker and f'hx-post="{u["pool_grow"]}"' in worker
    assert client.get(url_for_in(role_app, "schedules.new"), headers=basic("ada")).status_code == 200


def url_for_in(app, endpoint: str, **kwargs) -> str:
    return urls(app, only=(endpoint, kwargs))["only"]


def test_confirmation_and_form_pages_refuse_roles_below_the_action(role_app, scene):
    client = role_app.test_client()
    queue, message, item = scene["queue"], scene["message_id"], scene["staged"][0]
    confirm = {
        "delete": ("queues.confirm_delete", {"name": queue, "task_id": message}),
        "stage": ("queues.confirm_stage", {"name": queue, "task_id": message}),
        "purge": ("queues.confirm_purge", {"name": queue}),
        "revoke": ("workers.confirm", {"hostname": "*", "command": "revoke", "task_id": message}),
        "shutdown": ("workers.confirm", {"hostname": "*", "command": "shutdown"}),
        "edit_item": ("staging.edit_item", {"item_id": item}),
        "new_schedule": ("schedules.new", {}),
        "edit_schedule": ("schedules.edit", {"schedule_id": scene["schedule_id"]}),
    }
    u = urls(role_app, **confirm)
    needs = {
        "delete": "otto",
        "stage": "otto",
        "revoke": "otto",
        "edit_item": "otto",
        "purge": "ada",
        "shutdown": "ada",
        "new_schedule": "ada",
        "edit_schedule": "ada",
    }
    below = {"otto": ["vera"], "ada": ["vera", "otto"]}
    for name, user in needs.items():
        for lower in below[user]:
            response = client.get(u[name], headers=basic(lower))
            assert response.status_code == 403, (name, lower)
            assert MUTATING.search(response.get_data(as_text=True)) is None, name
        assert client.get(u[name], headers=basic(user)).status_code == 200, (name, user)
    # Nothing was changed by any of it.
    assert scene["message_id"] in page(client, u["purge"].rsplit("/", 1)[0], "ada")
