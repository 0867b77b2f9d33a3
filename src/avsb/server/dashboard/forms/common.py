"""What every design form codec shares: reading a posted multi-dict, errors by field path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from avsb.server.errors import AvsbError

FormData = Mapping[str, Sequence[str]]
"""A posted form: every field name with all its values, in the order sent."""


@dataclass
class Parsed:
    """A form read into a service payload, or the errors beside the fields that caused them.

    ``errors`` is keyed by the form's field names, which are the API's 422 ``details`` paths
    (``variants.1.weight``, ``analysis.alpha``, ``rules.0.value``); ``"_"`` is form-wide."""

    payload: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, message)


def text(form: FormData, name: str, default: str = "") -> str:
    """The first value of ``name`` (stripped), or ``default``."""
    values = form.get(name)
    return values[0].strip() if values else default


def checked(form: FormData, name: str) -> bool:
    """A checkbox: sent (with any value but ``false``) when ticked."""
    values = form.get(name)
    if not values:
        return False
    return values[-1] not in ("", "false", "off", "0")


def optional(form: FormData, name: str) -> str | None:
    """A text field where empty means null."""
    value = text(form, name)
    return value or None


def validation_errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    """A pydantic error as ``{path: message}`` (first message per path)."""
    out: dict[str, str] = {}
    for error in exc.errors():
        parts = [str(p) for p in error["loc"]]
        path = ".".join([prefix, *parts] if prefix else parts) or "_"
        message = str(error["msg"])
        out.setdefault(path, message.removeprefix("Value error, "))
    return out


def api_errors(error: AvsbError) -> dict[str, str]:
    """A service error as ``{path: message}``: a 422's ``details.fields`` by their path, any
    other error (a 409 such as ``layer_full``) form-wide under ``"_"``."""
    fields = error.details.get("fields") if isinstance(error.details, dict) else None
    out: dict[str, str] = {}
    for item in fields if isinstance(fields, list) else []:
        if isinstance(item, dict):
            out.setdefault(str(item.get("path") or "_"), str(item.get("message", "invalid")))
    if not out:
        out["_"] = error.message
    return out


def check(schema: type[BaseModel], payload: Mapping[str, Any], parsed: Parsed) -> Any:
    """``payload`` validated by the API's own body schema; errors go into ``parsed``."""
    try:
        return schema.model_validate(dict(payload), strict=False)
    except ValidationError as exc:
        for path, message in validation_errors(exc).items():
            parsed.add(path, message)
        return None


def number_text(value: float | int | None) -> str:
    """A number as a form shows it: ``50`` not ``50.0``; empty for null."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def payload_of(body: BaseModel, creating: bool) -> dict[str, Any]:
    """What to send the service: every field of a create body; the fields a patch body set,
    each nested object whole with its defaults (as the API's ``PATCH`` does)."""
    dumped = body.model_dump()
    if creating:
        return dumped
    return {name: dumped[name] for name in body.model_fields_set}
