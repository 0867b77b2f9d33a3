"""SQLAlchemy models; importing this package registers every table on ``Base.metadata``."""

from avsb.server.models.audience import Audience
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
from avsb.server.models.exclusion_group import ExclusionGroup
from avsb.server.models.experiment import Experiment, VariantGroupId
from avsb.server.models.flag import Flag
from avsb.server.models.metric import Metric
from avsb.server.models.people import Invitation, Membership, User, UserIdentity, UserSession
from avsb.server.models.plan import ExperimentPlan
from avsb.server.models.project import Project
from avsb.server.models.report import ReportExport
from avsb.server.models.results import (
    ExposureAttributeKey,
    IngestionCounter,
    ResultsRefresh,
    ResultsSnapshot,
)
from avsb.server.models.segment import Segment, SegmentMember
from avsb.server.models.slack import (
    SlackChannel,
    SlackInstallation,
    SlackLinkCode,
    SlackMessage,
    SlackOAuthState,
    SlackSeenRequest,
    SlackUserLink,
)
from avsb.server.models.sso import SsoLogin
from avsb.server.models.template import Template
from avsb.server.models.webhook import Webhook, WebhookAttempt, WebhookDelivery

__all__ = [
    "ApiToken",
    "Audience",
    "AuditEvent",
    "Base",
    "ChangeVersion",
    "ExclusionGroup",
    "Experiment",
    "ExperimentPlan",
    "ExposureAttributeKey",
    "Flag",
    "IdempotencyRecord",
    "IngestionCounter",
    "Invitation",
    "Membership",
    "Metric",
    "Organization",
    "Project",
    "RateBucket",
    "ReportExport",
    "ResultsRefresh",
    "ResultsSnapshot",
    "Revision",
    "Segment",
    "SegmentMember",
    "ServerState",
    "SlackChannel",
    "SlackInstallation",
    "SlackLinkCode",
    "SlackMessage",
    "SlackOAuthState",
    "SlackSeenRequest",
    "SlackUserLink",
    "SsoLogin",
    "Template",
    "User",
    "UserIdentity",
    "UserSession",
    "VariantGroupId",
    "Webhook",
    "WebhookAttempt",
    "WebhookDelivery",
]
