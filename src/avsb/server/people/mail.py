"""Invitation emails over SMTP (stdlib ``smtplib``), when ``AVSB_SMTP_HOST`` is set."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from avsb.server.config import Settings


def send_invitation(settings: Settings, to: str, org_name: str, role: str, url: str) -> None:
    """Send the invitation link; raises ``OSError`` / ``smtplib.SMTPException`` on failure."""
    assert settings.smtp_host is not None
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = f"You are invited to {org_name} on AvsB"
    message.set_content(
        f"You have been invited to join {org_name} on AvsB as {role}.\n\n"
        f"Accept the invitation (the link works once, for {settings.invitation_days} days):\n"
        f"{url}\n"
    )
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password is not None:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
