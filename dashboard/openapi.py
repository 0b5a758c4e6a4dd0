"""The OpenAPI 3.1 contract of ``/api/v1``, built from the models that validate the requests.

Each API view wears :func:`api_operation`, which validates the query string and the JSON body
with the operation's pydantic models (a refusal is the usual ``{"error", "field"}`` 422, the
field named as the API takes it) and records the operation. :func:`build_document` walks the
running app's URL map, so the paths, the mount prefix and the server URL are the ones actually
served, and turns each recorded operation into OpenAPI with ``model_json_schema()`` (JSON Schema
2020-12 is OpenAPI 3.1's own dialect). Nothing here patches the host app.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import wraps
from typing import Annotated, Any

from flask import Flask, current_app, has_request_context, jsonify, request
from flask_babel import lazy_gettext as _l
from pydantic import BaseModel, RootModel, ValidationError, WithJsonSchema

from .api import MUTATING, api_blueprint, json_body
from .core.errors import Unprocessable
from .core.json_text import decode_json
from .i18n import in_english
from .mount import current, first, settings
from .templating import render_template

ROLES = ("viewer", "operator", "admin")
_PARAM = re.compile(r"<(?:(?P<converter>[a-zA-Z_]\w*)(?:\((?P<args>.*?)\))?:)?(?P<name>[a-zA-Z_]\w*)>")
# A path segment as werkzeug's default converter takes it, minus the dot segments that URL
# normalisation would remove before the request reaches the app.
SEGMENT = r"^(?!\.\.?$)[^/]+$"


class ErrorBody(BaseModel):
    """A refusal: what is wrong in English, and the input it is about (as the API names it)."""

    error: str
    field: str | None = None
    detail: str | None = None


class StagingItemOut(BaseModel):
    """A staged item (``core.staging.StagingItem``); ``id`` becomes the Celery task id."""

    id: str
    task: str
    args: list
    kwargs: dict
    options: dict
    staged_by: str
    staged_at: str
    note: str


@dataclass(frozen=True)
class Operation:
    """What one API view takes and answers, as :func:`api_operation` recorded it."""

    summary: Any  # a lazy message: English in the document, translated on the reference page
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_required: bool = False
    responses: dict[int, type[BaseModel] | None] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    description: str = ""
    media_type: str = "application/json"


def _refusal(error: ValidationError, where: str) -> Unprocessable:
    first = error.errors(include_url=False)[0]
    name = ".".join(str(part) for part in first["loc"]) or where
    return Unprocessable(_l("%(field)s: %(error)s", field=name, error=first["msg"]), field=name)


def _body_data(model: type[BaseModel]) -> object:
    if issubclass(model, RootModel):  # a JSON value other than an object (e.g. an import list)
        body = request.get_data()
        return decode_json(body, "body", members=2) if body else None
    return json_body()


def api_operation(
    summary,
    *,
    tag: str,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_required: bool = False,
    responses: dict[int, type[BaseModel] | None] | None = None,
    errors: tuple[int, ...] = (),
    description: str = "",
    media_type: str = "application/json",
):
    """Validate the request with ``query``/``body`` and record the operation for the contract.

    Worn innermost (under ``@mutation``), so the role check and the audit row come first and a
    refusal here is audited like any other.
    """
    operation = Operation(
        summary,
        tag,
        query,
        body,
        body_required,
        dict(responses or {200: None}),
        errors,
        description,
        media_type,
    )

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if query is not None:
                try:
                    query.model_validate(request.args.to_dict())
                except ValidationError as exc:
                    raise _refusal(exc, "query") from None
            if body is not None:
                try:
                    body.model_validate(_body_data(body))
                except ValidationError as exc:
                    raise _refusal(exc, "body") from None
            return view(*args, **kwargs)

        wrapper.api_operation = operation
        return wrapper

    return decorate


# --------------------------------------------------------------------------- the document

STATUS_TEXT = {
    200: _l("OK"),
    201: _l("Created"),
    202: _l("Accepted"),
    204: _l("No content"),
    400: _l("The request is malformed (e.g. the body is not a JSON object)"),
    401: _l("HTTP Basic credentials are missing or wrong (AUTH_MODE=basic)"),
    403: _l("No dashboard role for this request, or the role is below the one needed"),
    404: _l("No such object"),
    409: _l("The object changed meanwhile (stale version) or the name is taken"),
    413: _l("The payload is over MAX_PAYLOAD_BYTES"),
    415: _l("A mutating request did not send Content-Type: application/json"),
    422: _l("A value is invalid; field names the input"),
    503: _l("Redis is unreachable"),
}


def role_of(view) -> str:
    """The least role that may call ``view`` (the strictest of the commands it delegates to)."""
    role = getattr(view, "required_role", None) or getattr(view, "viewer_role", None) or "viewer"
    delegates = getattr(view, "delegates_to", None) or {}
    roles = {getattr(v, "required_role", "viewer") for v in delegates.values()}
    if roles:
        return min(roles, key=ROLES.index)
    return role


def _local(endpoint: str) -> str:
    """``registry_api.run`` for ``taskdeck.registry_api.run``: the same in every mount."""
    return endpoint.partition(".")[2]


def api_rules(app: Flask, api_root: str) -> list:
    """The URL rules of the current mount's API, mounted at ``api_root`` (``/ops/celery/api/v1``)."""
    rules = []
    mount_name = current().name if has_request_context() else first(app).name
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rpartition(".")[0]
        ours = rule.endpoint.startswith(mount_name + ".")
        if ours and blueprint.endswith("_api") and rule.rule.startswith(api_root + "/"):
            rules.append(rule)
    return sorted(rules, key=lambda r: r.rule)


class _Components:
    def __init__(self):
        self.schemas: dict[str, dict] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)
        self.schemas.update(schema.pop("$defs", {}))
        self.schemas[model.__name__] = schema
        return {"$ref": f"#/components/schemas/{model.__name__}"}


def _path_parameters(rule_text: str) -> tuple[str, list[dict]]:
    params = []

    def replace(match: re.Match) -> str:
        converter, name = match.group("converter") or "default", match.group("name")
        if converter == "int":
            limits = dict(re.findall(r"(min|max)=(\d+)", match.group("args") or ""))
            schema: dict = {"type": "integer", "minimum": int(limits.get("min", 0))}
            if "max" in limits:
                schema["maximum"] = int(limits["max"])
        elif converter == "path":
            schema = {"type": "string", "minLength": 1, "pattern": r"^(?!\.\.?$)(?!.*//)[^?#]+$"}
        else:
            schema = {"type": "string", "minLength": 1, "pattern": SEGMENT}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
        return "{" + name + "}"

    return _PARAM.sub(replace, rule_text), params


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema.get("properties", {}).items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            param["description"] = description
        params.append(param)
    return params


def _error_codes(method: str, operation: Operation, has_path: bool, mode: str) -> list[int]:
    codes = {403, 503, *operation.errors}
    if mode == "basic":
        codes.add(401)
    if method in MUTATING:
        codes.update({400, 415, 422})
    if operation.query is not None:
        codes.add(422)
    if has_path:  # an id that is not one (400/422), or no such object (404)
        codes.update({400, 404, 422})
    return sorted(codes)


def _operation_object(app: Flask, rule, method: str, components: _Components) -> dict:
    view = app.view_functions[rule.endpoint]
    operation: Operation = view.api_operation
    mode = settings()["AUTH_MODE"]
    path, path_params = _path_parameters(rule.rule)
    role = role_of(view)
    body = {
        "operationId": _local(rule.endpoint).replace(".", "_")
        + (f"_{method.lower()}" if len(_methods(rule)) > 1 else ""),
        "summary": in_english(operation.summary),
        "tags": [operation.tag],
        "x-required-role": role,
        "parameters": path_params + (_query_parameters(operation.query) if operation.query else []),
        "responses": {},
    }
    body["description"] = (f"{operation.description}\n\n" if operation.description else "") + f"Role: {role}."
    if method in MUTATING:
        media: dict = {"schema": components.ref(operation.body, "validation")} if operation.body else {}
        if not operation.body:
            media = {"schema": {"type": "object", "description": "Ignored: send {} or nothing."}}
        body["requestBody"] = {"required": operation.body_required, "content": {"application/json": media}}
    for code, model in operation.responses.items():
        response: dict = {"description": in_english(STATUS_TEXT[code])}
        if code != 204:
            schema = components.ref(model, "serialization") if model else {"type": "object"}
            if operation.media_type != "application/json":
                schema = {"type": "string"}
            response["content"] = {operation.media_type: {"schema": schema}}
        body["responses"][str(code)] = response
    error_ref = components.ref(ErrorBody, "serialization")
    for code in _error_codes(method, operation, bool(path_params), mode):
        if code == 401:
            content = {"text/plain": {"schema": {"type": "string"}}}
        else:
            content = {"application/json": {"schema": error_ref}}
        body["responses"].setdefault(
            str(code), {"description": in_english(STATUS_TEXT[code]), "content": content}
        )
    return path, body


def _methods(rule) -> list[str]:
    return sorted(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))


def build_document(app: Flask, api_root: str, server_url: str) -> dict:
    """The OpenAPI 3.1 document of the API served at ``api_root`` in ``app``'s URL map."""
    components = _Components()
    paths: dict[str, dict] = {}
    for rule in api_rules(app, api_root):
        if not hasattr(app.view_functions[rule.endpoint], "api_operation"):
            continue  # tests/api/test_openapi.py fails on such a route
        for method in _methods(rule):
            path, operation = _operation_object(app, rule, method, components)
            paths.setdefault(path[len(api_root) :], {})[method.lower()] = operation
    config = settings()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Taskdeck API",
            "version": "1",
            "description": (
                "The JSON API of the Taskdeck Celery dashboard. Mutating requests must send "
                'Content-Type: application/json. Refusals are {"error": ..., "field": ...} '
                "in English. Each operation names the least role it needs (x-required-role)."
            ),
        },
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "AUTH_MODE=basic"},
                "trustedHeader": {
                    "type": "apiKey",
                    "in": "header",
                    "name": config["AUTH_USER_HEADER"],
                    "description": (
                        f"AUTH_MODE=header: set by the portal's proxy (from AUTH_TRUSTED_PROXIES only), "
                        f"with the groups in {config['AUTH_GROUPS_HEADER']} mapped to a role."
                    ),
                },
            },
        },
        "security": {"none": [{}], "basic": [{"basic": []}], "header": [{"trustedHeader": []}]}[
            config["AUTH_MODE"]
        ],
    }


# --------------------------------------------------------------------------- serving it

api = api_blueprint("openapi_api", __name__, "")


def _mounted_root() -> str:
    """``/api/v1`` under the prefix the current request came through (e.g. ``/ops/celery``)."""
    return request.url_rule.rule.rsplit("/api/v1/", 1)[0] + "/api/v1"


def current_document() -> dict:
    root = _mounted_root()
    return build_document(current_app, root, request.script_root + root)


class OpenAPIDocument(RootModel[dict[str, Any]]):
    """An OpenAPI 3.1 document."""


@api.get("/openapi.json")
@api_operation(_l("This API's OpenAPI 3.1 document"), tag="api", responses={200: OpenAPIDocument})
def document():
    return jsonify(current_document())


@api.get("/docs")
@api_operation(_l("This API's reference page"), tag="api", media_type="text/html")
def reference():
    from .api_reference import reference_rows

    document = current_document()
    return render_template("api/reference.html", operations=reference_rows(document), document=document)


# --------------------------------------------------------------------------- helpers for schemas


def documented(schema: dict) -> Any:
    """A member whose service validates it (with its own message and field); ``schema`` says what
    the API takes. Used where a stricter model type would change a refusal the service words."""
    return Annotated[Any, WithJsonSchema(schema)]


def run_option(name: str, description: str, **bounds: object) -> Any:
    """A run option as the run model (``core.run_options.Run``) validates it, with its bounds."""
    from .core.run_options import Run

    schema = dict(Run.model_json_schema(mode="validation")["properties"][name])
    schema.pop("title", None)
    schema.pop("default", None)
    branches = schema.get("anyOf", [schema])
    for branch in branches:
        if branch.get("type") in ("integer", "number"):
            branch.update(bounds)
    return Annotated[Any, WithJsonSchema({**schema, "description": description})]
