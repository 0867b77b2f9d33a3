"""The evaluation preview's view model: typed attributes parsed, and an SDK ``Evaluation``
turned into rows: each layer's assignment and each flag's value with its reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from avsb.server.errors import ValidationFailed
from avsb_sdk.evaluation import Evaluation

MAX_ATTRIBUTES = 100
_REASONS = {
    "assigned": "assigned by its bucket",
    "holdout": "in the project holdout: default",
    "not_in_traffic": "bucket outside the experiment's traffic: default",
    "not_in_audience": "outside the experiment's audience: default",
    "filtered": "filtered out: default",
}


def _invalid(message: str) -> ValidationFailed:
    return ValidationFailed(
        "Some fields need attention.",
        [{"path": "attributes", "message": message, "type": "attributes"}],
    )


def _value(text: str) -> Any:
    """``42`` -> 42, ``true`` -> True, ``"x"`` -> "x"; anything else is the text itself."""
    try:
        found = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return found if isinstance(found, str | int | float | bool) else text


def parse_attributes(text: str) -> dict[str, Any]:
    """A JSON object, or one ``key=value`` per line (values read as JSON when they are)."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            found = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise _invalid(f"not a JSON object: {exc}") from None
        if not isinstance(found, dict):
            raise _invalid("not a JSON object")
        out = found
    else:
        out = {}
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise _invalid(f"line {number}: write key=value")
            out[key.strip()] = _value(value.strip())
    if len(out) > MAX_ATTRIBUTES:
        raise _invalid(f"at most {MAX_ATTRIBUTES} attributes")
    return out


@dataclass(frozen=True, slots=True)
class LayerRow:
    layer: str
    experiment: str
    variant: str
    params: str
    reason: str


@dataclass(frozen=True, slots=True)
class FlagRow:
    key: str
    value: str
    variant: str
    reason: str
    experiment: str


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def rows(found: Evaluation) -> tuple[list[LayerRow], list[FlagRow]]:
    layers = [
        LayerRow(
            layer=key,
            experiment=a.experiment_key or "—",
            variant=a.variant_key if a.assigned else "(default)",
            params=_json(dict(a.params)) if a.params else "—",
            reason=_REASONS.get(a.reason, a.reason),
        )
        for key, a in sorted(found.assignments.items())
    ]
    flags = [
        FlagRow(
            key=key,
            value=_json(f.value),
            variant=f.variant or "—",
            reason=f.reason + (f" ({f.error_code})" if f.error_code else ""),
            experiment=(
                f"{f.experiment.experiment_key} / {f.experiment.variant_key}"
                if f.experiment is not None and f.experiment.assigned
                else "—"
            ),
        )
        for key, f in sorted(found.flags.items())
    ]
    return layers, flags
