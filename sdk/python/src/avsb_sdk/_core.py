"""What the sync and async clients share: typed answers, evaluation on the config in hand,
exposure logging, config and SSE parsing. No I/O here."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import httpx

from avsb_sdk._errors import ApiError
from avsb_sdk._exposures import (
    RETRYABLE_STATUS,
    Exposure,
    ExposureQueue,
    OnExposure,
    SendError,
)
from avsb_sdk.evaluation import Assignment as CoreAssignment
from avsb_sdk.evaluation import (
    CompiledConfig,
    ErrorCode,
    FlagValue,
    JsonValue,
    Reason,
    assign_experiments,
    compile_config,
    config_from_dict,
    evaluate,
    evaluate_flags,
)
from avsb_sdk.evaluation.answers import abc_experiments, abc_flags, sdk_evaluation

Json = dict[str, Any]
Attributes = Mapping[str, object]
T = TypeVar("T")

CONFIG_PATH = "/api/sdk/config"
STREAM_PATH = "/api/sdk/config/stream"
EXPOSURES_PATH = "/api/sdk/exposures"
MAX_BATCH = 1_000
"""The most exposures `POST /api/sdk/exposures` takes in one request."""
PROVIDER_NOT_READY = "PROVIDER_NOT_READY"
NOT_READY = "not_ready"
"""`Assignment.reason` before the first config arrived."""
NOT_FOUND = "not_found"
"""`Assignment.reason` when no running experiment or layer has that key."""
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class FlagDetails:
    """A flag's value for a unit, with the OpenFeature reason, variant and error code."""

    key: str
    value: Any
    reason: str
    variant: str | None = None
    error_code: str | None = None
    experiment_key: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """A unit's place in an experiment (or layer): `assigned` False is the default answer."""

    key: str
    """The experiment or layer key asked for."""
    assigned: bool
    reason: str
    """assigned, holdout, not_in_traffic, not_in_audience, filtered, not_found or not_ready."""
    experiment_key: str | None = None
    variant: str | None = None
    group_id: int = -1
    layer_key: str | None = None
    params: Mapping[str, str] = field(default_factory=lambda: _EMPTY)

    def param(self, name: str, default: str | None = None) -> str | None:
        """One of the variant's params, or `default`."""
        return self.params.get(name, default)


@dataclass(frozen=True, slots=True)
class ExposureOptions:
    """How exposures are logged.

    The client sends them with its SDK key to `POST /api/sdk/exposures` (the key's own
    project) in batches of `batch_size` (at most 1,000); `send=False` keeps them in process:
    only `on_exposure` sees them.
    """

    send: bool = True
    on_exposure: OnExposure | None = None
    batch_size: int = 500
    flush_interval: float = 5.0
    capacity: int = 10_000
    dedup_size: int = 100_000
    max_attempts: int = 5
    retry_base: float = 0.5

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")

    def queue(self) -> ExposureQueue:
        return ExposureQueue(
            sending=self.send,
            capacity=self.capacity,
            batch_size=self.batch_size,
            dedup_size=self.dedup_size,
            on_exposure=self.on_exposure,
        )


def compiled_from(response: httpx.Response) -> CompiledConfig:
    """The compiled config of a 200 answer of `GET /api/sdk/config`; raises ApiError."""
    if response.status_code != 200:
        raise ApiError.from_response(response)
    return compile_config(config_from_dict(response.json()["data"]))


def _bare(tag: str | None) -> str:
    return (tag or "").removeprefix("W/").strip('"')


def _same_etag(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and _bare(a) == _bare(b)


@dataclass(slots=True)
class SseEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: float | None = None


class SseParser:
    """Incremental `text/event-stream` parsing (WHATWG HTML, server-sent events)."""

    def __init__(self) -> None:
        self._event = SseEvent()
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        """Take one line (without its end); return an event at the blank line ending it."""
        if not line:
            event, data = self._event, self._data
            self._event, self._data = SseEvent(), []
            if not data:
                return None
            event.data = "\n".join(data)
            return event
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event.event = value or "message"
        elif name == "id":
            self._event.id = value
        elif name == "retry" and value.isdigit():
            self._event.retry = int(value) / 1000
        return None


HEARTBEATS = frozenset({"ping", "heartbeat", "keepalive", "keep-alive"})


class Evaluating:
    """Evaluation on the config in hand; exposures queued. Never raises for want of config."""

    _compiled: CompiledConfig | None
    _etag: str | None
    exposures: ExposureQueue

    @property
    def ready(self) -> bool:
        """Whether a config has arrived."""
        return self._compiled is not None

    @property
    def revision(self) -> int | None:
        """The server's revision of the config in use (None before the first one)."""
        return None if self._compiled is None else self._compiled.revision

    @property
    def config(self) -> CompiledConfig | None:
        """The compiled config in use, or None before the first one."""
        return self._compiled

    def _adopt(self, compiled: CompiledConfig, etag: str | None) -> None:
        self._compiled, self._etag = compiled, etag

    def _is_news(self, event: SseEvent) -> bool:
        """Whether a stream event may announce a config other than the one in hand.

        Tolerant of the payload: an `etag` is compared with the config's ETag, else a
        `revision` with its revision, else a `version` with either; anything else (or data
        that is not JSON) is taken as news, which costs one conditional GET.
        """
        if event.event in HEARTBEATS:
            return False
        try:
            data = json.loads(event.data)
        except ValueError:
            return True
        if not isinstance(data, dict):
            return True
        etag, revision, version = data.get("etag"), data.get("revision"), data.get("version")
        if isinstance(etag, str):
            return not _same_etag(etag, self._etag)
        if isinstance(revision, int) and not isinstance(revision, bool):
            return revision != self.revision
        if version is not None:
            return str(version) not in {_bare(self._etag), str(self.revision)}
        return True

    # exposures

    def _expose(self, a: CoreAssignment, unit_id: str, attributes: Attributes | None) -> None:
        if a.assigned:
            attrs: Mapping[str, object] = attributes if isinstance(attributes, Mapping) else {}
            self.exposures.expose(a.experiment_key, a.variant_key, unit_id, attrs)

    def _flags(
        self, unit_id: str, attributes: Attributes | None, names: Iterable[str] | None
    ) -> dict[str, FlagValue]:
        compiled = self._compiled
        if compiled is None:
            return {}
        flags = evaluate_flags(compiled, unit_id, attributes, names)
        for flag in flags.values():
            if flag.experiment is not None:
                self._expose(flag.experiment, unit_id, attributes)
        return flags

    # typed flags

    def details(
        self, key: str, unit_id: str, attributes: Attributes | None = None, default: Any = None
    ) -> FlagDetails:
        """The flag's value for the unit with reason and variant; `default` on any error."""
        if self._compiled is None:
            return FlagDetails(key, default, Reason.ERROR, None, PROVIDER_NOT_READY)
        flag = self._flags(unit_id, attributes, (key,))[key]
        if flag.error_code is not None:
            return FlagDetails(key, default, Reason.ERROR, None, flag.error_code)
        experiment = flag.experiment.experiment_key if flag.experiment is not None else None
        return FlagDetails(key, flag.value, flag.reason, flag.variant, None, experiment)

    def _typed(
        self,
        key: str,
        unit_id: str,
        attributes: Attributes | None,
        default: T,
        kinds: tuple[type, ...],
    ) -> FlagDetails:
        found = self.details(key, unit_id, attributes, default)
        value = found.value
        if found.error_code is None and (
            not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool))
        ):
            return FlagDetails(key, default, Reason.ERROR, None, ErrorCode.TYPE_MISMATCH)
        return found

    def _value(
        self,
        key: str,
        unit_id: str,
        attributes: Attributes | None,
        default: Any,
        kinds: tuple[type, ...],
    ) -> Any:
        """The typed getters' path: `_typed(...).value` without building the details."""
        flags = self._flags(unit_id, attributes, (key,))
        if not flags:
            return default
        flag = flags[key]
        value = flag.value
        if flag.error_code is not None or not isinstance(value, kinds):
            return default
        if bool not in kinds and isinstance(value, bool):
            return default
        return value

    def boolean_details(
        self, key: str, unit_id: str, attributes: Attributes | None = None, default: bool = False
    ) -> FlagDetails:
        return self._typed(key, unit_id, attributes, default, (bool,))

    def string_details(
        self, key: str, unit_id: str, attributes: Attributes | None = None, default: str = ""
    ) -> FlagDetails:
        return self._typed(key, unit_id, attributes, default, (str,))

    def number_details(
        self, key: str, unit_id: str, attributes: Attributes | None = None, default: float = 0.0
    ) -> FlagDetails:
        return self._typed(key, unit_id, attributes, default, (int, float))

    def json_details(
        self,
        key: str,
        unit_id: str,
        attributes: Attributes | None = None,
        default: JsonValue = None,
    ) -> FlagDetails:
        return self._typed(key, unit_id, attributes, default, (dict, list))

    def get_boolean(
        self, key: str, unit_id: str, attributes: Attributes | None = None, default: bool = False
    ) -> bool:
        """A boolean flag's value; `default` when missing, not ready or not a boolean."""
        value: bool = self._value(key, unit_id, attributes, default, (bool,))
        return value

    def is_on(self, key: str, unit_id: str, attributes: Attributes | None = None) -> bool:
        """Whether a boolean flag is on for the unit (False when missing or not ready)."""
        return self.get_boolean(key, unit_id, attributes, False)

    def get_string(
        self, key: str, unit_id: str, attributes: Attributes | None = None, default: str = ""
    ) -> str:
        """A string flag's value; `default` when missing, not ready or not a string."""
        value: str = self._value(key, unit_id, attributes, default, (str,))
        return value

    def get_number(
        self, key: str, unit_id: str, attributes: Attributes | None = None, default: float = 0.0
    ) -> float:
        """A number flag's value; `default` when missing, not ready or not a number."""
        value: float = self._value(key, unit_id, attributes, default, (int, float))
        return value

    def get_json(
        self,
        key: str,
        unit_id: str,
        attributes: Attributes | None = None,
        default: JsonValue = None,
    ) -> JsonValue:
        """A JSON (object or array) flag's value; `default` when missing or not ready."""
        value: JsonValue = self._value(key, unit_id, attributes, default, (dict, list))
        return value

    # experiments

    def assign(
        self, experiment_or_layer: str, unit_id: str, attributes: Attributes | None = None
    ) -> Assignment:
        """The unit's variant of a running experiment, or its assignment in a layer.

        A real assignment is logged as an exposure. Never raises: before the first config
        the answer is unassigned with reason `not_ready`, for an unknown key `not_found`.
        """
        key = experiment_or_layer
        compiled = self._compiled
        if compiled is None:
            return Assignment(key, False, NOT_READY)
        if key in compiled.layer_keys:
            found = assign_experiments(compiled, unit_id, attributes, layer_keys=(key,))
        else:
            found = assign_experiments(compiled, unit_id, attributes, experiment_keys=(key,))
        if not found:
            return Assignment(key, False, NOT_FOUND)
        core = next(iter(found.values()))
        self._expose(core, unit_id, attributes)
        if not core.assigned:
            return Assignment(key, False, core.reason, layer_key=core.layer_key)
        return Assignment(
            key,
            True,
            core.reason,
            core.experiment_key,
            core.variant_key,
            core.group_id,
            core.layer_key,
            core.params,
        )

    # wire-shaped answers (the server's JSON, for ABC and /api/sdk/evaluate users)

    def evaluate(self, unit_id: str, attributes: Attributes | None = None) -> Json:
        """Every layer and flag for the unit, as `data` of `POST /api/sdk/evaluate`."""
        compiled = self._compiled
        if compiled is None:
            return {"unit_id": unit_id, "revision": None, "held_out": False,
                    "experiments": {}, "flags": {}}  # fmt: skip
        evaluation = evaluate(compiled, unit_id, attributes)
        for assignment in evaluation.exposures():
            self._expose(assignment, unit_id, attributes)
        return sdk_evaluation(evaluation, compiled.revision)

    def get_experiments(
        self,
        unit_id: str,
        attributes: Attributes | None = None,
        *,
        layer_keys: Collection[str] | None = None,
        experiment_keys: Collection[str] | None = None,
    ) -> Json:
        """The unit's assignment per layer, as `exp_data` of `POST /abc/get_experiments`."""
        compiled = self._compiled
        if compiled is None:
            return {}
        assignments = assign_experiments(
            compiled, unit_id, attributes, layer_keys=layer_keys, experiment_keys=experiment_keys
        )
        for assignment in assignments.values():
            self._expose(assignment, unit_id, attributes)
        return abc_experiments(assignments)

    def get_feature_flags(
        self, unit_id: str, feature_names: Iterable[str], attributes: Attributes | None = None
    ) -> Json:
        """Named flags as `data` of `POST /abc/get_feature_flags` (values as strings)."""
        return abc_flags(self._flags(unit_id, attributes, feature_names))


def rejected_count(response: httpx.Response) -> int:
    """How many events of a delivered batch the server rejected."""
    try:
        return len(response.json()["data"]["rejected"])
    except (ValueError, KeyError, TypeError):
        return 0


def batch_body(batch: list[Exposure]) -> bytes:
    """The JSON body of one batch (attributes that JSON cannot hold are sent as strings)."""
    return json.dumps({"exposures": [e.as_event() for e in batch]}, default=str).encode()


def send_outcome(response: httpx.Response) -> int:
    """How many events of a sent batch the server rejected; raises SendError on failure."""
    status = response.status_code
    if status < 300:
        return rejected_count(response)
    retryable = status >= 500 or status in RETRYABLE_STATUS
    raise SendError(str(ApiError.from_response(response)), retryable=retryable)
