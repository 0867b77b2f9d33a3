"""Stateless tools: summary statistics in, results out (/api/tools/*)."""
