"""Idempotent batch intake of events: validation by hand, one append, durable counters."""
