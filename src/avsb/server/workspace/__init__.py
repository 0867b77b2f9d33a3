"""Workspace export, validate and import: a whole organisation as one JSON document."""
