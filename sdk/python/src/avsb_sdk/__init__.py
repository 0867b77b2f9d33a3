"""The AvsB Python SDK: an in-process evaluator and a management API client.

`Client` evaluates experiments and flags locally on the same core as the server
(`avsb_sdk.evaluation`), from the config it polls at `GET /api/sdk/config`;
`ManagementClient` calls the management API with auto-pagination. Imports only
`avsb_sdk.evaluation`, httpx and the standard library.
"""

from avsb_sdk._errors import ApiError, NotReadyError, SdkError
from avsb_sdk._evaluator import Client
from avsb_sdk._management import ManagementClient

__all__ = ["ApiError", "Client", "ManagementClient", "NotReadyError", "SdkError"]
