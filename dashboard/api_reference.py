"""The reference page of ``/api/v1`` (``/api/v1/docs``): the OpenAPI document as rows to read."""

from __future__ import annotations

import json

from flask import current_app

from .mount import current
from .openapi import STATUS_TEXT


def _type_text(schema: dict) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[1]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(_type_text(s) for s in schema[key])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    text = " | ".join(kind) if isinstance(kind, list) else kind
    if kind == "array":
        text = f"array of {_type_text(schema.get('items', {}))}"
    bounds = [
        f"{label} {schema[key]}" for key, label in (("minimum", "≥"), ("maximum", "≤")) if key in schema
    ]
    if "format" in schema:
        bounds.append(schema["format"])
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def _fields(schema: dict, schemas: dict) -> list[dict]:
    if "$ref" in schema:
        schema = schemas.get(schema["$ref"].rsplit("/", 1)[1], {})
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "type": _type_text(prop),
            "required": name in required,
            "description": prop.get("description", ""),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def reference_rows(document: dict) -> list[dict]:
    """Every operation of ``document`` as the reference page lists it, in the page's language."""
    schemas = document["components"]["schemas"]
    summaries = {
        endpoint.partition(".")[2].replace(".", "_"): view.api_operation.summary
        for endpoint, view in current_app.view_functions.items()
        if hasattr(view, "api_operation") and endpoint.startswith(current().name + ".")
    }
    rows = []
    server = document["servers"][0]["url"]
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            rows.append(
                {
                    "id": op["operationId"],
                    "method": method.upper(),
                    "path": server + path,
                    "summary": summaries.get(op["operationId"].removesuffix(f"_{method}"), op["summary"]),
                    "role": op["x-required-role"],
                    "tag": op["tags"][0],
                    "parameters": [{**p, "type": _type_text(p["schema"])} for p in op.get("parameters", [])],
                    "body": _fields(body, schemas) if body else None,
                    "body_schema": _type_text(body) if body else None,
                    "responses": [
                        {
                            "code": code,
                            "description": STATUS_TEXT.get(int(code), response["description"]),
                            "schema": ", ".join(
                                f"{media}: {_type_text(c.get('schema', {}))}"
                                for media, c in response.get("content", {}).items()
                            ),
                        }
                        for code, response in op["responses"].items()
                    ],
                }
            )
    return rows
