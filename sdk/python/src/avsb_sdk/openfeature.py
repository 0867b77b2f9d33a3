"""An OpenFeature provider evaluating in-process on an AvsB `Client` (no request per flag).

    pip install 'avsb-sdk[openfeature]'

    from openfeature import api
    from avsb_sdk import Client
    from avsb_sdk.openfeature import AvsbProvider

    # set_provider_and_wait: set_provider initialises in a background thread, and until
    # the first config arrives every evaluation answers its default (PROVIDER_NOT_READY)
    api.set_provider_and_wait(AvsbProvider(Client("https://avsb.example.com", "avsb_sdk_...")))
    flags = api.get_client()
    flags.get_boolean_value("new_checkout", False, EvaluationContext("user_1", {"plan": "pro"}))

The evaluation context's targeting key is the unit id and its attributes the unit's
attributes. Reasons (STATIC, DEFAULT, TARGETING_MATCH, SPLIT, DISABLED, ERROR), variants and
error codes are AvsB's, which are OpenFeature's; a flag chosen by an experiment logs an
exposure as any other evaluation of the client does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.provider import AbstractProvider, Metadata

from avsb_sdk._client import Client
from avsb_sdk._core import FlagDetails
from avsb_sdk.evaluation import ErrorCode as AvsbErrorCode

__all__ = ["AvsbProvider"]

T = TypeVar("T")


class AvsbProvider(AbstractProvider):
    """OpenFeature provider over an AvsB `Client`; `shutdown()` closes the client."""

    def __init__(self, client: Client, *, ready_timeout: float = 10.0) -> None:
        super().__init__()
        self.client = client
        self.ready_timeout = ready_timeout

    def get_metadata(self) -> Metadata:
        return Metadata(name="AvsB in-process provider")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Wait (up to `ready_timeout`) for the first config; defaults are served until then."""
        self.client.wait_until_ready(self.ready_timeout)

    def shutdown(self) -> None:
        self.client.close()

    def _resolve(
        self, found: FlagDetails | None, default: T, context: EvaluationContext | None
    ) -> FlagResolutionDetails[T]:
        if found is None:
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode.TARGETING_KEY_MISSING,
                error_message="The evaluation context has no targeting key (the unit id).",
                reason="ERROR",
            )
        if found.error_code is not None:
            return FlagResolutionDetails(
                default,
                error_code=ErrorCode(found.error_code),
                error_message=f"{found.key}: {found.error_code}",
                reason="ERROR",
            )
        metadata = {"experiment_key": found.experiment_key} if found.experiment_key else {}
        return FlagResolutionDetails(
            found.value, reason=found.reason, variant=found.variant, flag_metadata=metadata
        )

    @staticmethod
    def _unit(context: EvaluationContext | None) -> tuple[str, dict[str, Any]] | None:
        if context is None or not context.targeting_key:
            return None
        return context.targeting_key, dict(context.attributes)

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        unit = self._unit(evaluation_context)
        found = unit and self.client.boolean_details(flag_key, *unit, default_value)
        return self._resolve(found, default_value, evaluation_context)

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[str]:
        unit = self._unit(evaluation_context)
        found = unit and self.client.string_details(flag_key, *unit, default_value)
        return self._resolve(found, default_value, evaluation_context)

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[int]:
        unit = self._unit(evaluation_context)
        found = unit and self.client.number_details(flag_key, *unit, default_value)
        if found and found.error_code is None and found.value != int(found.value):
            found = FlagDetails(flag_key, default_value, "ERROR", None, AvsbErrorCode.TYPE_MISMATCH)
        elif found and found.error_code is None:
            found = FlagDetails(
                flag_key,
                int(found.value),
                found.reason,
                found.variant,
                None,
                found.experiment_key,
            )
        return self._resolve(found, default_value, evaluation_context)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        unit = self._unit(evaluation_context)
        found = unit and self.client.number_details(flag_key, *unit, default_value)
        if found and found.error_code is None:
            found = FlagDetails(
                flag_key,
                float(found.value),
                found.reason,
                found.variant,
                None,
                found.experiment_key,
            )
        return self._resolve(found, default_value, evaluation_context)

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: Sequence[Any] | Mapping[str, Any],
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[Sequence[Any] | Mapping[str, Any]]:
        unit = self._unit(evaluation_context)
        found = unit and self.client.json_details(flag_key, *unit, default_value)  # type: ignore[arg-type]
        return self._resolve(found, default_value, evaluation_context)
