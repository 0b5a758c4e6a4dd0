"""No mutating route can forget its permission check, its audit row or its CSRF guard."""

from dashboard.api import MUTATING

ALWAYS_OPEN = {"taskdeck.static", "static"}


def mutating_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ALWAYS_OPEN:
            continue
        if set(rule.methods or ()) & MUTATING:
            yield rule


def guarded(view) -> bool:
    if getattr(view, "delegates_to", None):
        return all(guarded(target) for target in view.delegates_to.values())
    return bool(getattr(view, "required_role", None) and getattr(view, "audit_action", None))


def test_every_mutating_route_declares_a_role_and_an_audit_action(app):
    missing = [rule.rule for rule in mutating_rules(app) if not guarded(app.view_functions[rule.endpoint])]
    assert missing == [], f"mutating routes without @mutation(role, action): {missing}"


def test_every_mutating_html_route_is_csrf_protected(app):
    from dashboard.extensions import csrf

    exempt_blueprints = {bp.name for bp in csrf._exempt_blueprints}
    unprotected = []
    for rule in mutating_rules(app):
        blueprint = rule.endpoint.rpartition(".")[0]
        view = app.view_functions[rule.endpoint]
        if (
            f"{view.__module__}.{view.__name__}" in csrf._exempt_views
            or blueprint in exempt_blueprints
            and not blueprint.endswith("_api")
        ):
            unprotected.append(rule.rule)
    assert unprotected == []


def test_get_routes_are_never_mutations(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "required_role", None):
            assert not ({"GET"} & set(rule.methods or ())), rule.rule
