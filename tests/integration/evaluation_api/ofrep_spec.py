"""Validation of OFREP answers against the pinned official OpenAPI document
(`ofrep_openapi.yaml`, open-feature/protocol service/openapi.yaml), with jsonschema.

The document's `evaluationSuccess` cannot validate any answer that carries a value as
written: its value types are a `oneOf` in which `codeDefaultFlag` (`type: object`,
`properties: {}`) matches every answer, and `floatFlag` (`type: number`) matches every
integer. Two corrections are applied here, in memory, and nothing else is changed:
`codeDefaultFlag` gets `not: {required: [value]}` (what ADR-0006 says it is: an answer
without a value), and the value-type `oneOf` is read as `anyOf`. Reasons, error codes,
required fields and metadata value types stay as strict as the document writes them.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).with_name("ofrep_openapi.yaml")
FLAG_PATH = "/ofrep/v1/evaluate/flags/{key}"
BULK_PATH = "/ofrep/v1/evaluate/flags"
_URI = "urn:ofrep-openapi"


def official() -> dict[str, Any]:
    """The pinned document, as published."""
    document: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return document


@cache
def corrected() -> dict[str, Any]:
    """The pinned document with the two corrections of this module's docstring."""
    document = copy.deepcopy(official())
    schemas = document["components"]["schemas"]
    schemas["codeDefaultFlag"]["not"] = {"required": ["value"]}
    types = schemas["evaluationSuccess"]["allOf"][1]
    types["anyOf"] = types.pop("oneOf")
    return document


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = DRAFT202012.create_resource(corrected())
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return registry


def response_schema(path: str, status: int) -> dict[str, Any] | None:
    """The JSON schema of a documented answer, or None when the document gives it no body."""
    responses = corrected()["paths"][path]["post"]["responses"]
    response = responses[str(status)]
    content = response.get("content", {}).get("application/json")
    if content is None:
        return None
    ref: str = content["schema"]["$ref"]
    return {"$ref": _URI + ref}


def problems(path: str, status: int, body: object) -> list[str]:
    """Why `body` is not the documented answer of `path` with `status` (empty when it is)."""
    responses = corrected()["paths"][path]["post"]["responses"]
    if str(status) not in responses:
        return [f"status {status} is not documented for {path}"]
    schema = response_schema(path, status)
    if schema is None:
        return []
    validator = jsonschema.Draft202012Validator(schema, registry=_registry())
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
