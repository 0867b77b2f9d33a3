from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from avsb.server.kit.schemas import StrictModel


class LinkCreate(StrictModel):
    code: str = Field(min_length=8, max_length=100, description="The code `/avsb link` gave")


class LinkOut(BaseModel):
    id: str
    team_id: str
    slack_user_id: str
    user_id: str
    created_at: datetime


class ChannelPut(StrictModel):
    channel_id: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[A-Z0-9]+$",
        description="The Slack channel id (e.g. C0123ABCD) notifications and digests go to",
    )


class ChannelOut(BaseModel):
    project_id: str
    channel_id: str
    updated_at: datetime


class InstallationOut(BaseModel):
    team_id: str
    team_name: str
    bot_user_id: str
    scope: str
    single_workspace: bool = Field(description="The bot token is AVSB_SLACK_BOT_TOKEN's")
    installed_at: datetime


class DeliveryError(BaseModel):
    message_id: str
    kind: str
    channel_id: str
    status: str
    error: str
    at: datetime


class SlackStatus(BaseModel):
    configured: bool = Field(description="The server has a signing secret for Slack requests")
    oauth_install: bool = Field(description="The OAuth install is configured (client id...)")
    installed: bool
    installation: InstallationOut | None
    channels: list[ChannelOut]
    linked_users: int
    messages: dict[str, int] = Field(description="Outbox messages by status")
    last_errors: list[DeliveryError] = Field(description="Latest delivery errors, newest first")


class DigestOut(BaseModel):
    queued: int = Field(description="Digest messages queued (one per project channel)")
