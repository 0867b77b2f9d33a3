"""The complete OpenAPI document: FastAPI's generated one, plus what FastAPI cannot see.

* security schemes (bearer token, ``X-API-Key``, the ``avsb_session`` cookie) and, per
  operation, whether it needs one: an operation that may answer 401 does; the others are
  public (``security: []``);
* the error answers of every authenticated operation, with the error envelope schema;
* the evaluation routes, served by the front door outside FastAPI (``hotpath.server``),
  described here by hand (docs/evaluation.md is their prose reference);
* an example on every request body (``REQUEST_EXAMPLES``, checked against the body schema by
  tests/integration/openapi).

Installed with FastAPI's public hook: ``app.openapi = document_builder(app)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

Json = dict[str, Any]

SECURITY_SCHEMES: Json = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A service, admin or SDK token: `Authorization: Bearer avsb_...`",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The same token in the `X-API-Key` header",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "avsb_session",
        "description": "A dashboard session (signed-in user)",
    },
}
AUTHENTICATED: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}, {"session": []}]
SDK_KEY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]

# Every authenticated operation may answer these (docs/api.md: errors, limits, concurrency).
ERROR_STATUSES: dict[str, str] = {
    "400": "Bad request (a malformed cursor, header or query)",
    "401": "Missing, unknown, expired or revoked token",
    "403": "The token lacks the scope, or is an SDK key on a management route",
    "404": "No such resource in this organisation",
    "409": "Conflict: a duplicate key, or a state that forbids the change",
    "412": "If-Match names another version",
    "413": "Body larger than AVSB_MAX_BODY_BYTES",
    "422": "Validation failed: details.fields names each faulty field",
    "429": "Rate limited: Retry-After says when to retry",
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}


def _error(description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _ok(description: str, schema: Json, headers: Json | None = None) -> Json:
    answer: Json = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


def _ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_ETAG = {"ETag": {"schema": {"type": "string"}, "description": "Content tag of the answer"}}
_RETRY = {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds to wait"}}
_NOT_MODIFIED = {"description": "Not modified (If-None-Match matched the ETag)"}

EVALUATION_SCHEMAS: Json = {
    "AbcRequest": {
        "type": "object",
        "required": ["unit_id"],
        "properties": {
            "project_id": {"type": ["string", "integer"], "description": "Project id or key"},
            "unit_id": {"type": "string"},
            "profiles": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"user_attrs": {"type": "array", "items": {"type": "string"}}},
                },
                "description": "{attribute: {user_attrs: [strings]}}",
            },
            "filter_options": {
                "type": "object",
                "properties": {
                    "layer_keys": {"type": "array", "items": {"type": "string"}},
                    "experiment_keys": {"type": "array", "items": {"type": "string"}},
                },
            },
            "feature_names": {"type": "array", "items": {"type": "string"}},
        },
    },
    "AbcAnswer": {
        "type": "object",
        "required": ["ret_code", "msg"],
        "description": "ret_code 100 success, 101 no permission, 102 traffic limit, 103 no "
        "project_id, 104 server error, 105 config not ready (retry), 0 bad request",
        "properties": {
            "ret_code": {"type": "integer", "enum": [0, 100, 101, 102, 103, 104, 105]},
            "msg": {"type": "string"},
            "field": {"type": "string"},
            "exp_data": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["experiment_key", "group_id", "group_key", "params"],
                    "properties": {
                        "experiment_key": {"type": "string"},
                        "group_id": {"type": "integer"},
                        "group_key": {"type": "string"},
                        "params": _STRING_MAP,
                    },
                },
            },
            "data": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "required": ["name", "value", "relative_experiment"],
                    "properties": {
                        "name": {"type": "string"},
                        "value": {"type": "string"},
                        "relative_experiment": {"type": ["object", "null"]},
                    },
                },
            },
        },
    },
    "OfrepRequest": {
        "type": "object",
        "properties": {
            "context": {
                "type": "object",
                "required": ["targetingKey"],
                "properties": {"targetingKey": {"type": "string", "minLength": 1}},
                "additionalProperties": True,
            }
        },
    },
    "OfrepSuccess": {
        "type": "object",
        "required": ["key", "value", "reason", "variant", "metadata"],
        "properties": {
            "key": {"type": "string"},
            "value": {},
            "reason": {"type": "string"},
            "variant": {"type": "string"},
            "metadata": {"type": "object"},
        },
    },
    "OfrepFailure": {
        "type": "object",
        "required": ["errorDetails"],
        "properties": {
            "key": {"type": "string"},
            "errorCode": {"type": "string"},
            "errorDetails": {"type": "string"},
        },
    },
    "OfrepBulk": {
        "type": "object",
        "required": ["flags"],
        "properties": {
            "flags": {
                "type": "array",
                "items": {"anyOf": [_ref("OfrepSuccess"), _ref("OfrepFailure")]},
            }
        },
    },
    "SdkEvaluateRequest": {
        "type": "object",
        "required": ["unit_id"],
        "additionalProperties": False,
        "properties": {
            "unit_id": {"type": "string", "minLength": 1},
            "attributes": {"type": "object"},
        },
    },
    "SdkEvaluation": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["unit_id", "revision", "experiments", "flags"],
                "properties": {
                    "unit_id": {"type": "string"},
                    "revision": {"type": "integer"},
                    "held_out": {"type": "boolean"},
                    "experiments": {"type": "object"},
                    "flags": {"type": "object"},
                },
            }
        },
    },
    "SdkConfig": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "object", "description": "The compiled config"}},
    },
    "SdkExposure": {
        "type": "object",
        "description": "An exposure item of the events route (`type` may be left out).",
        "required": ["experiment", "variant", "unit_id", "timestamp"],
        "additionalProperties": False,
        "properties": {
            "type": {"type": "string", "enum": ["exposure"]},
            "experiment": {"type": "string", "minLength": 1, "maxLength": 100},
            "variant": {"type": "string", "minLength": 1, "maxLength": 100},
            "unit_id": {"type": "string", "minLength": 1, "maxLength": 256},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 with an offset; at most a day ahead",
            },
            "event_id": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "description": "Deduplication key: a repeated id counts as a duplicate",
            },
            "attributes": {"type": "object", "maxProperties": 50},
        },
    },
    "SdkExposuresRequest": {
        "type": "object",
        "required": ["exposures"],
        "additionalProperties": False,
        "properties": {
            "exposures": {"type": "array", "maxItems": 1000, "items": _ref("SdkExposure")}
        },
    },
    "SdkIngestResult": {
        "type": "object",
        "required": ["data"],
        "properties": {
            "data": {
                "type": "object",
                "required": ["accepted", "duplicates", "rejected"],
                "properties": {
                    "accepted": {"type": "integer", "description": "Exposures stored"},
                    "duplicates": {
                        "type": "integer",
                        "description": "Already stored, or repeated in the batch",
                    },
                    "rejected": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["index", "code", "message"],
                            "properties": {
                                "index": {"type": "integer"},
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
}


def _abc(summary: str, example: Json) -> Json:
    return {
        "post": {
            "tags": ["evaluation"],
            "summary": summary,
            "operationId": summary.lower().replace(" ", "_"),
            "description": "Signed with `X-Ak` (key id), `X-Et` (unix seconds) and `X-Es` "
            "(md5 of key id, time and secret): see docs/evaluation.md. Failures are HTTP 200 "
            "with a ret_code, except a malformed body (400) or an oversized one (413).",
            "security": [],
            "parameters": [
                {"name": h, "in": "header", "required": False, "schema": {"type": "string"}}
                for h in ("X-Ak", "X-Et", "X-Es")
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("AbcRequest"), "example": example}},
            },
            "responses": {
                "200": _ok("An answer or a ret_code failure", _ref("AbcAnswer")),
                "400": _ok(
                    "The body is not a JSON object of the documented fields", _ref("AbcAnswer")
                ),
                "413": _ok("Body too large", _ref("AbcAnswer")),
            },
        }
    }


def _ofrep_errors() -> Json:
    failure = _ref("OfrepFailure")
    return {
        "400": _ok("Bad context, or a value that does not convert", failure),
        "401": _ok("Missing or unknown SDK key", failure),
        "403": _ok("Not an SDK key", failure),
        "413": _ok("Body too large", failure),
        "429": _ok("Rate limited", failure, _RETRY),
        "503": _ok("The project's config is not compiled yet", failure, _RETRY),
    }


_OFREP_EXAMPLE = {"context": {"targetingKey": "user-42", "country": "DE"}}
_SDK_ERRORS = {
    "401": _error("Missing or unknown SDK key"),
    "403": _error("Not an SDK key"),
    "404": _error("The key's project no longer exists"),
    "429": _error("Rate limited: Retry-After"),
    "503": _error("The project's config is not compiled yet: Retry-After"),
}

EVALUATION_PATHS: Json = {
    "/abc/get_experiments": _abc(
        "Get experiments",
        {
            "project_id": "shop",
            "unit_id": "user-42",
            "profiles": {"country": {"user_attrs": ["DE"]}},
            "filter_options": {"layer_keys": [], "experiment_keys": []},
        },
    ),
    "/abc/get_feature_flags": _abc(
        "Get feature flags",
        {"project_id": "shop", "unit_id": "user-42", "feature_names": ["new_checkout"]},
    ),
    "/ofrep/v1/evaluate/flags/{key}": {
        "post": {
            "tags": ["evaluation"],
            "summary": "Evaluate one flag (OFREP)",
            "operationId": "ofrep_evaluate_flag",
            "security": SDK_KEY,
            "parameters": [
                {"name": "key", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _ref("OfrepRequest"), "example": _OFREP_EXAMPLE}
                },
            },
            "responses": {
                "200": _ok("The flag's value", _ref("OfrepSuccess")),
                "404": _ok("No such flag", _ref("OfrepFailure")),
                **_ofrep_errors(),
            },
        }
    },
    "/ofrep/v1/evaluate/flags": {
        "post": {
            "tags": ["evaluation"],
            "summary": "Evaluate every flag (OFREP bulk)",
            "operationId": "ofrep_evaluate_flags",
            "security": SDK_KEY,
            "parameters": [
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _ref("OfrepRequest"), "example": _OFREP_EXAMPLE}
                },
            },
            "responses": {
                "200": _ok("Every flag", _ref("OfrepBulk"), _ETAG),
                "304": _NOT_MODIFIED,
                **_ofrep_errors(),
            },
        }
    },
    "/api/sdk/config": {
        "get": {
            "tags": ["evaluation"],
            "summary": "The compiled config of the key's project",
            "operationId": "sdk_config",
            "security": SDK_KEY,
            "parameters": [
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": _ok("The config", _ref("SdkConfig"), _ETAG),
                "304": _NOT_MODIFIED,
                **_SDK_ERRORS,
            },
        }
    },
    "/api/sdk/evaluate": {
        "post": {
            "tags": ["evaluation"],
            "summary": "Evaluate every experiment and flag for a unit",
            "operationId": "sdk_evaluate",
            "security": SDK_KEY,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _ref("SdkEvaluateRequest"),
                        "example": {"unit_id": "user-42", "attributes": {"country": "DE"}},
                    }
                },
            },
            "responses": {
                "200": _ok("Layers and flags", _ref("SdkEvaluation")),
                "413": _error("Body too large"),
                "422": _error("Invalid body: details.fields"),
                **_SDK_ERRORS,
            },
        }
    },
    "/api/sdk/exposures": {
        "post": {
            "tags": ["evaluation"],
            "summary": "Log exposures of in-process assignments",
            "operationId": "sdk_exposures",
            "description": "Exposures only (an SDK key is public), of the key's own project's "
            "experiments and variants, at most 1,000 a request; ingested as the events route "
            "does (deduplicated by `event_id`). Invalid items are rejected one by one with "
            "their index; the others are stored (docs/sdk.md).",
            "security": SDK_KEY,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": _ref("SdkExposuresRequest"),
                        "example": {
                            "exposures": [
                                {
                                    "experiment": "checkout_button",
                                    "variant": "green",
                                    "unit_id": "user-42",
                                    "timestamp": "2026-11-22T10:00:00Z",
                                    "event_id": "x:3f2a9c0d1e",
                                    "attributes": {"country": "DE"},
                                }
                            ]
                        },
                    }
                },
            },
            "responses": {
                "200": _ok("Accepted, duplicate and rejected counts", _ref("SdkIngestResult")),
                "413": _error("Body too large"),
                "422": _error("Invalid body, or more than 1,000 exposures: details.fields"),
                **_SDK_ERRORS,
            },
        }
    },
}

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _operations(doc: Json) -> list[tuple[str, str, Json]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def complete(doc: Json, examples: dict[tuple[str, str], Json]) -> Json:
    """Add security, error answers, the evaluation routes and request examples to ``doc``."""
    components = doc.setdefault("components", {})
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    schemas = components.setdefault("schemas", {})
    schemas.update(copy.deepcopy(EVALUATION_SCHEMAS))
    for path, method, op in _operations(doc):
        responses = op.setdefault("responses", {})
        if "401" not in responses:
            op["security"] = []
            continue
        op["security"] = AUTHENTICATED
        for status, description in ERROR_STATUSES.items():
            responses[status] = {**_error(description), **responses.get(status, {})}
            responses[status]["description"] = description
            responses[status]["content"] = {"application/json": {"schema": ERROR_REF}}
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None and "example" not in body and (method, path) in examples:
            body["example"] = examples[method, path]
    for path, item in copy.deepcopy(EVALUATION_PATHS).items():
        doc["paths"][path] = item
    tags = doc.setdefault("tags", [])
    if not any(t.get("name") == "evaluation" for t in tags):
        tags.append(
            {"name": "evaluation", "description": "Hot path: SDK keys (docs/evaluation.md)"}
        )
    return doc


def document_builder(app: FastAPI) -> Callable[[], Json]:
    """The ``app.openapi`` of ``app``: its generated document, completed, built once."""
    from avsb.server.openapi_examples import REQUEST_EXAMPLES

    def openapi() -> Json:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(doc, REQUEST_EXAMPLES)
        return app.openapi_schema

    return openapi


def current_document() -> Json:
    """The document this code serves, built by a throwaway app on a temporary data dir (the
    generators in scripts/ and their staleness tests use it)."""
    import tempfile
    from pathlib import Path

    from avsb.server.app import create_app
    from avsb.server.config import Settings

    with tempfile.TemporaryDirectory(prefix="avsb-openapi-") as tmp:
        server = create_app(Settings(data_dir=Path(tmp), database_url=None, events_url=None))
        try:
            management = server.management
            assert isinstance(management, FastAPI)
            doc: Json = management.openapi()
        finally:
            server.runtime.events.close()
            server.runtime.db.dispose()
    return doc
