"""HTML escaping of every user-supplied text a report prints."""

from __future__ import annotations

import html


def escape(value: str) -> str:
    """``&``, ``<``, ``>``, ``"`` and ``'`` as entities: safe in text and attribute values."""
    return html.escape(value, quote=True)
