"""The AvsB Python SDK (`pip install avsb-sdk`): in-process evaluation, exposures, management.

`Client` (threads) and `AsyncClient` (asyncio) evaluate experiments and flags locally on the
same core as the server (`avsb_sdk.evaluation`, which the server imports too), from the config
they keep fresh from `GET /api/sdk/config` (polling with ETag, and server-sent events from
`GET /api/sdk/config/stream` when the server offers them); real assignments are logged as
exposures. `ManagementClient` calls the management API with auto-pagination.
`avsb_sdk.openfeature.AvsbProvider` is an OpenFeature provider (extra `openfeature`).
"""

from avsb_sdk._async import AsyncClient
from avsb_sdk._client import Client
from avsb_sdk._core import Assignment, ExposureOptions, FlagDetails
from avsb_sdk._errors import ApiError, SdkError
from avsb_sdk._exposures import Exposure, ExposureQueue
from avsb_sdk._management import ManagementClient

__all__ = [
    "ApiError",
    "Assignment",
    "AsyncClient",
    "Client",
    "Exposure",
    "ExposureOptions",
    "ExposureQueue",
    "FlagDetails",
    "ManagementClient",
    "SdkError",
]
