"""AvsB server."""
