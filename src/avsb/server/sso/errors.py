"""The errors of single sign-on: structured 4xx / 5xx answers, never a 500."""
# ruff: noqa: N818

from __future__ import annotations

from avsb.server.errors import AvsbError, ServiceUnavailable


class ProviderUnavailable(ServiceUnavailable):
    """503: the provider could not be reached (or timed out)."""

    code = "sso_provider_unavailable"
    retry_after_seconds = 5


class ProviderError(AvsbError):
    """502: the provider answered something a correct provider does not (a bad discovery
    document, a 5xx, an ID token that fails verification)."""

    status_code = 502
    code = "sso_provider_error"


class SignInRefused(AvsbError):
    """400: the sign-in cannot go on (bad or replayed state, the provider's error answer)."""

    status_code = 400
    code = "sso_refused"


class IdentityRefused(AvsbError):
    """403: a verified identity that may not sign in (unverified e-mail, domain not allowed)."""

    status_code = 403
    code = "sso_identity_refused"
