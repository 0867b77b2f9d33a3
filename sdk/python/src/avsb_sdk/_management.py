"""The management API client: JSON in and out, errors as ApiError, lists auto-paginated."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from avsb_sdk._errors import ApiError
from avsb_sdk._http import Closing, bearer_client

Json = dict[str, Any]
MAX_PAGE = 1000


class ManagementClient(Closing):
    """Calls the management API with a service token; `list_*` follow `next_cursor`.

    with ManagementClient("https://avsb.example.com", "avsb_svc_...") as api:
        for experiment in api.list_experiments(org_id, status="running"):
            print(experiment["key"])
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = bearer_client(base_url, token, timeout, transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ManagementClient:
        return self

    def request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, Any] | None = None,
    ) -> Json:
        """Send one request; return the decoded answer (`{"data": ...}`), raise ApiError."""
        response = self._http.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        if response.status_code == 204 or not response.content:
            return {}
        body: Json = response.json()
        return body

    def get(self, path: str, **params: Any) -> Any:
        """The `data` of a GET."""
        return self.request("GET", path, params=params or None)["data"]

    def post(self, path: str, body: object = None) -> Any:
        """The `data` of a POST."""
        return self.request("POST", path, json=body)["data"]

    def paginate(self, path: str, *, limit: int = 100, **filters: Any) -> Iterator[Json]:
        """Every item of a list endpoint, page by page (`limit` per page, 1..1000)."""
        params: dict[str, Any] = {k: v for k, v in filters.items() if v is not None}
        params["limit"] = max(1, min(limit, MAX_PAGE))
        while True:
            page = self.request("GET", path, params=params)
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return
            params["cursor"] = cursor

    def list_projects(self, org_id: str, *, limit: int = 100) -> Iterator[Json]:
        return self.paginate(f"/api/orgs/{org_id}/projects", limit=limit)

    def list_experiments(
        self,
        org_id: str,
        *,
        project_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
    ) -> Iterator[Json]:
        return self.paginate(
            f"/api/orgs/{org_id}/experiments", limit=limit, project_id=project_id, status=status
        )

    def list_flags(
        self, org_id: str, *, project_id: str | None = None, limit: int = 100
    ) -> Iterator[Json]:
        return self.paginate(f"/api/orgs/{org_id}/flags", limit=limit, project_id=project_id)

    def create_sdk_key(self, org_id: str, project_id: str, name: str) -> Json:
        """A new SDK key of a project: `id` is the ABC `X-Ak`, `token` the secret (shown once)."""
        body = {"name": name, "kind": "sdk", "project_id": project_id}
        created: Json = self.post(f"/api/orgs/{org_id}/tokens", body)
        return created
