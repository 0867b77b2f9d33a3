"""AvsB: self-hosted experimentation platform."""

__version__ = "0.1.0"
