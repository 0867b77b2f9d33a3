"""SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from avsb.server.models.base import Base
from avsb.server.models.core import (
    ApiToken,
    AuditEvent,
    ChangeVersion,
    IdempotencyRecord,
    Organization,
    RateBucket,
    Revision,
    ServerState,
)
from avsb.server.models.project import Project
from avsb.server.models.webhook import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "ChangeVersion",
    "IdempotencyRecord",
    "Organization",
    "Project",
    "RateBucket",
    "Revision",
    "ServerState",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
