"""Slack: signed slash commands, events and buttons in; notifications and digests out."""
