from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    occurred_at: datetime
    actor_type: str
    actor_id: str | None
    actor_name: str
    actor_token_id: str | None = None
    source: str
    ip: str | None
    request_id: str | None
    action: str
    resource_type: str
    resource_id: str
    diff: dict[str, Any]
