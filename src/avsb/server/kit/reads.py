"""The one fast read of a single management resource, shared by every ``GET .../{id}``.

A prebuilt point query (``resources.by_id_in_org``: no ORM session, no SQL compilation per
request) finds the row by id within the path's organisation on every request; the answer's
body and ETag are rendered once per (id, version) and kept. ``version`` is the model's
optimistic-concurrency counter, which every UPDATE of the row bumps, so a kept body is
exactly what rendering the current row would give.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from avsb.server.kit import resources
from avsb.server.kit.etags import make_etag
from avsb.server.kit.http import answer, envelope
from avsb.server.models.base import Revisioned
from avsb.server.runtime import runtime_of

_KEPT = 4096  # rendered bodies kept per resource type


class SingleRead:
    """``GET`` of one ``model`` by id: the point query, then the body kept by id and version.

    ``present`` turns the row (attribute access like the model) into the output schema.
    """

    def __init__(self, model: type[Revisioned], present: Callable[[Any], BaseModel]) -> None:
        self.model = model
        self.query = resources.by_id_in_org(model)
        self._present = present
        self._bodies: dict[tuple[str, int], tuple[bytes, str]] = {}

    def rendered(self, row: Any) -> tuple[bytes, str]:
        """Body and ETag of one row; rendered once per (id, version)."""
        key = (row.id, row.version)
        found = self._bodies.get(key)
        if found is None:
            found = envelope(self._present(row)), make_etag(row.id, row.version)
            if len(self._bodies) >= _KEPT:
                self._bodies.clear()
            self._bodies[key] = found
        return found

    async def answer(self, request: Request, org_id: str, resource_id: str) -> Response:
        """The ``{"data": ...}`` answer with its ETag (304 on a matching ``If-None-Match``);
        404 unless the resource is in ``org_id``."""
        db = runtime_of(request).db
        row = await resources.read_in_org(db, self.query, self.model, org_id, resource_id)
        body, etag = self.rendered(row)
        return answer(request, body, etag=etag)
