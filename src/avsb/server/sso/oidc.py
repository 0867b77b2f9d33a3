"""The OpenID Connect client: discovery, the authorisation request (code flow, PKCE S256, state,
nonce), the code exchange and the ID token's verification (Authlib and its JOSE library,
joserfc). No database and no HTTP server here: ``sso.service`` keeps the pending sign-ins and
the routes call it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from avsb.server.config import Settings
from avsb.server.sso.errors import (
    IdentityRefused,
    ProviderError,
    ProviderUnavailable,
    SignInRefused,
)

DISCOVERY_SECONDS = 3600.0  # how long a discovery document and its JWKS are reused
JWKS_REFRESH_SECONDS = 30.0  # an unknown key id refetches the JWKS at most this often
LEEWAY_SECONDS = 60  # clock skew allowed on exp / iat
HTTP_TIMEOUT_SECONDS = 10.0
SCOPES = "openid email profile"
# Asymmetric signatures only: never "none", never an HMAC keyed with the client secret.
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    allowed_domains: frozenset[str]
    default_role: str

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """The configuration, or None when single sign-on is off."""
        if settings.oidc_issuer is None or settings.oidc_client_id is None:
            return None
        assert settings.oidc_client_secret is not None  # the settings' validator: all or none
        assert settings.public_url is not None
        return cls(
            issuer=settings.oidc_issuer,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret.get_secret_value(),
            redirect_uri=settings.public_url.rstrip("/") + "/auth/oidc/callback",
            allowed_domains=settings.oidc_domains,
            default_role=settings.oidc_default_role,
        )


@dataclass(frozen=True)
class Pending:
    """The secrets of one authorisation request, kept by the server until its callback."""

    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class Identity:
    """A person as the provider vouched for them in a verified ID token."""

    email: str
    name: str
    issuer: str
    subject: str


@dataclass(frozen=True)
class _Metadata:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]


def secure_url(url: str) -> bool:
    """https, or http to a loopback host (a provider on this machine, as in tests)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


class OidcClient:
    """One provider's client; thread-safe, with discovery and JWKS cached."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._metadata: tuple[_Metadata, float] | None = None
        self._jwks: tuple[KeySet, float] | None = None

    @staticmethod
    def _http() -> httpx.Client:
        """A client for one exchange with the provider (sign-ins are rare: no pool kept)."""
        return httpx.Client(timeout=HTTP_TIMEOUT_SECONDS, follow_redirects=False)

    # --- discovery -------------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            with self._http() as http:
                response = http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"The sign-in provider's {what} could not be fetched.",
                details={"url": url, "reason": type(exc).__name__},
            ) from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"The sign-in provider's {what} answered {response.status_code}.",
                details={"url": url, "status": response.status_code},
            )
        try:
            body = response.json() if response.status_code == 200 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderError(
                f"The sign-in provider's {what} is not a JSON object.",
                details={"url": url, "status": response.status_code},
            )
        return body

    def metadata(self) -> _Metadata:
        """The provider's discovery document (cached for an hour; a stale copy is used while
        the provider cannot be reached)."""
        cached = self._metadata
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            doc = self._get_json(url, "discovery document")
        except ProviderUnavailable:
            if cached is not None:
                return cached[0]
            raise
        metadata = self._check_metadata(doc)
        with self._lock:
            self._metadata = (metadata, time.monotonic() + DISCOVERY_SECONDS)
        return metadata

    def _check_metadata(self, doc: dict[str, Any]) -> _Metadata:
        def bad(problem: str) -> ProviderError:
            return ProviderError(
                f"The sign-in provider's discovery document is unusable: {problem}.",
                details={"issuer": self.config.issuer},
            )

        if doc.get("issuer") != self.config.issuer:  # OpenID Connect Discovery 1.0, 4.3
            raise bad(f"its issuer {doc.get('issuer')!r} is not the configured one")
        endpoints = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = doc.get(name)
            if not isinstance(value, str) or not secure_url(value):
                raise bad(f"{name} is missing or not an https URL")
            endpoints[name] = value
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise bad("it does not support PKCE with S256")
        offered = doc.get("id_token_signing_alg_values_supported")
        algorithms = tuple(
            a
            for a in (offered if isinstance(offered, list) else ["RS256"])
            if a in SIGNING_ALGORITHMS
        )
        if not algorithms:
            raise bad("it signs ID tokens with no asymmetric algorithm")
        return _Metadata(algorithms=algorithms, **endpoints)

    def _keys(self, refresh: bool) -> KeySet:
        """The provider's keys: cached for an hour, fetched again on ``refresh`` (a key id
        not in them) unless they were fetched in the last 30 s."""
        cached = self._jwks
        now = time.monotonic()
        if cached is not None:
            age = now - cached[1]
            if age < (JWKS_REFRESH_SECONDS if refresh else DISCOVERY_SECONDS):
                return cached[0]
        doc = self._get_json(self.metadata().jwks_uri, "key set (JWKS)")
        try:
            keys = KeySet.import_key_set(doc)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderError(
                "The sign-in provider's key set (JWKS) is unusable.",
                details={"reason": str(exc)[:200]},
            ) from exc
        with self._lock:
            self._jwks = (keys, now)  # fetched at
        return keys

    # --- the flow --------------------------------------------------------------------------

    def authorization_request(self) -> tuple[str, Pending]:
        """The provider URL to send the browser to, and the secrets to keep until the
        callback: a fresh state, nonce and PKCE verifier (S256 challenge in the URL)."""
        pending = Pending(
            state=generate_token(43), nonce=generate_token(43), code_verifier=generate_token(64)
        )
        url = prepare_grant_uri(
            self.metadata().authorization_endpoint,
            self.config.client_id,
            "code",
            redirect_uri=self.config.redirect_uri,
            scope=SCOPES,
            state=pending.state,
            nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.code_verifier),
            code_challenge_method="S256",
        )
        return str(url), pending

    def exchange(self, code: str, pending: Pending) -> dict[str, Any]:
        """The token endpoint's answer for ``code`` (client_secret_basic, with the verifier)."""
        body = prepare_token_request(
            "authorization_code",
            redirect_uri=self.config.redirect_uri,
            code=code,
            code_verifier=pending.code_verifier,
        )
        url = self.metadata().token_endpoint
        try:
            with self._http() as http:
                response = http.post(
                    url,
                    content=body,
                    # RFC 6749 2.3.1: id and secret form-urlencoded inside the Basic credentials.
                    auth=httpx.BasicAuth(
                        quote_plus(self.config.client_id), quote_plus(self.config.client_secret)
                    ),
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                    },
                )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                "The sign-in provider's token endpoint could not be reached.",
                details={"reason": type(exc).__name__},
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if response.status_code == 400 and isinstance(answer, dict):
            # invalid_grant and friends: an expired, used or forged code.
            raise SignInRefused(
                "The sign-in provider refused the authorisation code; sign in again.",
                code="sso_code_rejected",
                details={"provider_error": str(answer.get("error", ""))[:100]},
            )
        if response.status_code >= 500:
            raise ProviderUnavailable(
                f"The sign-in provider's token endpoint answered {response.status_code}.",
                details={"status": response.status_code},
            )
        if response.status_code != 200 or not isinstance(answer, dict):
            raise ProviderError(
                f"The sign-in provider's token endpoint answered {response.status_code}.",
                details={"status": response.status_code},
            )
        if not isinstance(answer.get("id_token"), str):
            raise ProviderError("The sign-in provider's token answer has no ID token.")
        return answer

    def verify_id_token(
        self, id_token: str, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The claims of ``id_token`` once its signature (the provider's JWKS, asymmetric
        algorithms only), issuer, audience, authorised party, nonce, expiry and issue time
        (a minute of leeway) and access-token hash check out; 502 otherwise."""
        algorithms = self.metadata().algorithms
        try:
            try:
                token = jwt.decode(id_token, self._keys(refresh=False), algorithms=algorithms)
            except InvalidKeyIdError:  # the provider rotated its keys: fetch them again
                token = jwt.decode(id_token, self._keys(refresh=True), algorithms=algorithms)
            claims = CodeIDToken(
                token.claims,
                token.header,
                options={
                    "iss": {"essential": True, "value": self.config.issuer},
                    "aud": {"essential": True, "value": self.config.client_id},
                    "sub": {"essential": True},
                    "exp": {"essential": True},
                    "nonce": {"essential": True, "value": nonce},
                },
                params={
                    "nonce": nonce,
                    "client_id": self.config.client_id,
                    "access_token": access_token,
                },
            )
            claims.validate(leeway=LEEWAY_SECONDS)
        except ExpiredTokenError as exc:
            raise ProviderError("The ID token has expired.", code="sso_invalid_id_token") from exc
        except (JoseError, ValueError, TypeError) as exc:
            raise ProviderError(
                "The ID token failed verification.",
                code="sso_invalid_id_token",
                details={"reason": type(exc).__name__, "detail": str(exc)[:200]},
            ) from exc
        return dict(claims)

    def identity(self, claims: dict[str, Any]) -> Identity:
        """The person in verified ``claims``: 403 unless the e-mail is verified and in an
        allowed domain."""
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise IdentityRefused(
                "The sign-in provider gave no e-mail address.", code="sso_email_missing"
            )
        if claims.get("email_verified") is not True:
            raise IdentityRefused(
                "The sign-in provider has not verified this e-mail address.",
                code="sso_email_unverified",
            )
        domain = email.rpartition("@")[2].lower()
        if domain not in self.config.allowed_domains:
            raise IdentityRefused(
                f"E-mail addresses of {domain} may not sign in here.",
                code="sso_domain_not_allowed",
                details={"domain": domain},
            )
        name = claims.get("name")
        return Identity(
            email=email.lower(),
            name=name if isinstance(name, str) and name.strip() else email.partition("@")[0],
            issuer=self.config.issuer,
            subject=str(claims["sub"]),
        )

    def finish(self, code: str, pending: Pending) -> Identity:
        """Exchange ``code``, verify the ID token against ``pending``'s nonce, and return the
        identity it vouches for."""
        answer = self.exchange(code, pending)
        access = answer.get("access_token")
        claims = self.verify_id_token(
            answer["id_token"], pending.nonce, access if isinstance(access, str) else None
        )
        return self.identity(claims)
