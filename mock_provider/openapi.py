"""The OpenAPI 3 description served at ``/openapi.json``.

Only the public API is described. The truth and control endpoints are for the harness, and
leaving them out keeps a schema-driven fuzzer from switching misbehaviour on.
"""

from __future__ import annotations

from typing import Any

_ID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"}
_ERROR = {"type": "object", "required": ["error"],
          "properties": {"error": {"type": "object", "required": ["type", "message"],
                                   "properties": {"type": {"type": "string"}, "message": {"type": "string"},
                                                  "param": {"type": "string"}}}}}


def _record(kind: str) -> dict[str, Any]:
    merchant = f"merchant_{kind}_id"
    statuses = ["processing", "succeeded", "declined"] if kind == "order" else ["processing", "paid", "rejected"]
    props: dict[str, Any] = {"id": {"type": "string"}, merchant: {"type": "string"},
                             "status": {"type": "string", "enum": statuses},
                             "amount_minor": {"type": "integer"}, "currency": {"type": "string"},
                             "created_at": {"type": "string"}, "settled_at": {"type": "string"}}
    if kind == "payout":
        props["destination"] = {"type": "string"}
    return {"type": "object", "required": ["id", merchant, "status", "amount_minor", "currency", "created_at"],
            "properties": props}


def _create(kind: str) -> dict[str, Any]:
    merchant = f"merchant_{kind}_id"
    props: dict[str, Any] = {merchant: _ID, "amount_minor": {"type": "integer", "minimum": 1, "maximum": 10**12},
                             "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                             "callback_url": {"type": "string", "pattern": "^https?://[!-~]{1,2040}$"}}
    required = [merchant, "amount_minor", "currency", "callback_url"]
    if kind == "payout":
        props["destination"] = _ID
        required.append("destination")
    return {"type": "object", "required": required, "properties": props, "additionalProperties": False}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "error", "content": {"application/json": {"schema": _ERROR}}}
            for code in codes}


def _paths(kind: str) -> dict[str, Any]:
    plural = f"/v1/{kind}s"
    record = {"application/json": {"schema": {"$ref": f"#/components/schemas/{kind}"}}}
    listing = {"type": "object", "required": ["object", "data"],
               "properties": {"object": {"type": "string"},
                              "data": {"type": "array", "items": {"$ref": f"#/components/schemas/{kind}"}}}}
    return {
        plural: {
            "post": {"operationId": f"create_{kind}", "security": [{"bearer": []}],
                     "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                     "schema": _ID}],
                     "requestBody": {"required": True, "content": {"application/json": {"schema": _create(kind)}}},
                     "responses": {"201": {"description": "created", "content": record},
                                   **_errors(400, 401, 409, 413, 422)}},
            "get": {"operationId": f"list_{kind}s", "security": [{"bearer": []}],
                    "parameters": [{"name": f"merchant_{kind}_id", "in": "query", "required": True,
                                    "schema": _ID}],
                    "responses": {"200": {"description": "records with this merchant id",
                                          "content": {"application/json": {"schema": listing}}},
                                  **_errors(400, 401)}},
        },
        f"{plural}/{{id}}": {
            "get": {"operationId": f"get_{kind}", "security": [{"bearer": []}],
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "the record", "content": record}, **_errors(401, 404)}},
        },
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "orderquake mock payment provider", "version": "1.0.0"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                   "schemas": {"order": _record("order"), "payout": _record("payout")}},
    "paths": {**_paths("order"), **_paths("payout"),
              "/healthz": {"get": {"operationId": "healthz", "responses": {"200": {"description": "alive"}}}}},
}
