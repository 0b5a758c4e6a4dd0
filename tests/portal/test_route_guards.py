"""No mutating route can forget its permission check or its audit row (the CSRF guard covers every
browser route: tests/portal/test_every_mutating_route.py sends each one without a token)."""

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


def test_get_routes_are_never_mutations(app):
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "required_role", None):
            assert not ({"GET"} & set(rule.methods or ())), rule.rule
