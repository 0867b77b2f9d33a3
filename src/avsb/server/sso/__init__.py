"""Single sign-on with OpenID Connect (off unless ``AVSB_OIDC_*`` is set)."""
