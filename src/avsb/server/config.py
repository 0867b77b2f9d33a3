"""Settings: every knob is an ``AVSB_*`` environment variable, read here and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, NonNegativeFloat, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from avsb.server.auth.proxies import parse_networks
from avsb.server.kit.origins import parse_setting

API_VERSIONS: tuple[str, ...] = ("2026-11-22",)
LATEST_API_VERSION = API_VERSIONS[-1]


class Settings(BaseSettings):
    """Server settings; ``create_app(settings)`` builds everything from one instance."""

    model_config = SettingsConfigDict(env_prefix="AVSB_", extra="ignore")

    data_dir: Path = Field(default=Path(".avsb"), description="Where the embedded stores live")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in data_dir"
    )
    admin_token: SecretStr | None = Field(default=None, description="Fixed admin token value")
    secret_key: SecretStr | None = Field(
        default=None, description="Signs cursors; default: generated once and kept in the DB"
    )
    host: str = Field(default="127.0.0.1", description="Interface `avsb serve` binds")
    port: int = Field(default=8008, description="TCP port `avsb serve` listens on")

    rate_limit_per_minute: float = Field(
        default=100.0, gt=0, description="Token bucket refill per token and scope family"
    )
    rate_limit_burst: int = Field(default=20, ge=1, description="Token bucket size")
    rate_limit_storage: Literal["database", "memory"] = Field(
        default="database",
        description="database: buckets shared by every server process; memory: per process",
    )
    auth_failures_per_minute: int = Field(
        default=30,
        ge=1,
        description="Failed authentications per client address and minute before that address's "
        "further failures answer 429 (valid tokens are always admitted)",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses / CIDR networks of reverse proxies whose "
        "X-Forwarded-For is honoured (client address for audit and auth throttling); "
        "empty: the header is ignored",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated browser origins (scheme://host[:port]) or '*' that may call "
        "the evaluation routes with an SDK key whose allowed_origins is null; empty: none",
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Larger request bodies get 413"
    )
    analyze_file_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1024,
        description="Largest upload POST /api/tools/analyze-file takes (413 beyond); bodies "
        "are also capped by max_body_bytes",
    )
    idempotency_ttl_hours: int = Field(
        default=24, ge=1, description="How long an Idempotency-Key answer is replayed"
    )
    idempotency_lock_seconds: float = Field(
        default=60.0, gt=0, description="How long a request in flight holds its Idempotency-Key"
    )
    auth_cache_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="How long a process uses a cached token or SDK key secret before reading it "
        "again (token changes clear the caches at once, in other processes at the next change "
        "poll); on the evaluation routes a key in use is read again ahead of its entry's end, off "
        "the request path",
    )
    token_last_used_flush_seconds: float = Field(
        default=30.0, gt=0, description="Tokens' last-used times are written this often"
    )
    token_used_audit_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A token's use is audited (token.used) at most once per this many seconds",
    )
    change_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often a process looks for config changes of others"
    )
    db_pool_size: int = Field(
        default=20, ge=1, description="Metadata database connections per process"
    )
    log_level: str = Field(default="info", description="debug, info, warning or error")
    events_url: str | None = Field(
        default=None,
        description="Event store: postgresql://..., chdb:///dir, or a DuckDB file (default: "
        "events.duckdb in data_dir; DuckDB allows one writing server process)",
    )
    events_memory_limit: str = Field(
        default="768MB",
        pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB memory_limit of the embedded event store (beyond it, queries spill "
        "to disk); see docs/scaling.md",
    )

    bot_p99_multiple: float | None = Field(
        default=10.0,
        gt=0,
        description="Results: a unit is a bot above this multiple of the 99th percentile of "
        "metric events per exposed unit (null: rule off)",
    )
    bot_max_events: int | None = Field(
        default=None, ge=1, description="Results: a unit is a bot above this many metric events"
    )
    late_event_hours: float = Field(
        default=24.0,
        gt=0,
        description="Results: an event ingested this long after its time is late",
    )
    results_refresh_minutes: float = Field(
        default=15.0,
        ge=0,
        le=10_080,
        description="Results: a background job recomputes the snapshot of each running "
        "experiment this often, in minutes; shared by all processes (0: off)",
    )

    webhooks_allow_private_networks: bool = Field(
        default=False,
        description="Let webhooks call private, loopback and link-local addresses (SSRF risk)",
    )
    webhook_retry_schedule_seconds: list[NonNegativeFloat] = Field(
        default=[5, 30, 150, 600, 1800, 3600, 7200, 14400, 28800, 28800],
        max_length=50,
        description="Delay before each retry after a failed attempt (JSON list); then failed",
    )
    webhook_retry_jitter: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Each retry delay is scaled by 1 +/- this"
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Per delivery attempt"
    )
    webhook_max_retry_after_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="A receiver's Retry-After (on 429 / 503) delays the next attempt up to this",
    )
    webhook_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the delivery worker looks for due deliveries"
    )
    webhook_batch_size: int = Field(
        default=20, ge=1, le=1000, description="Deliveries attempted per poll"
    )
    webhook_retention_days: int = Field(
        default=30, ge=1, description="Finished deliveries are kept this long"
    )

    exposure_buffer_size: int = Field(
        default=100_000,
        ge=1,
        description="Exposures held in memory awaiting a flush; when full, new ones are dropped "
        "(and counted)",
    )
    exposure_flush_batch_size: int = Field(
        default=1_000, ge=1, le=100_000, description="Exposures written per flush"
    )
    exposure_flush_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="Buffered exposures are written this often"
    )
    abc_max_clock_skew_seconds: int = Field(
        default=300, ge=1, description="How far the ABC signature time X-Et may be from now"
    )
    evaluation_rate_limit_per_minute: float = Field(
        default=600_000.0, gt=0, description="Per SDK key, on the evaluation routes"
    )
    evaluation_rate_limit_burst: int = Field(
        default=10_000, ge=1, description="Per SDK key, on the evaluation routes"
    )

    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="The URL people reach the server at (no trailing slash): invitation links, "
        "the OpenID Connect redirect URI (+ /auth/oidc/callback); https makes session cookies "
        "Secure",
    )
    oidc_issuer: str | None = Field(
        default=None,
        pattern=r"^https?://[^?#\s]+$",
        description="Single sign-on: the OpenID Connect provider's issuer URL (SSO is off "
        "unless set, with the client id, secret, allowed domains and AVSB_PUBLIC_URL)",
    )
    oidc_client_id: str | None = Field(
        default=None,
        min_length=1,
        description="Single sign-on: the client id registered at the provider",
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None, description="Single sign-on: the client secret registered at the provider"
    )
    oidc_allowed_domains: str = Field(
        default="",
        description="Comma-separated e-mail domains allowed to sign in with SSO",
    )
    oidc_default_role: Literal["viewer", "editor", "admin"] = Field(
        default="viewer",
        description="The role of a person's first SSO sign-in (in the organisation it joins: "
        "AVSB_OIDC_ORG)",
    )
    oidc_org: str | None = Field(
        default=None,
        pattern=r"^org_[0-9A-Za-z]+$",
        max_length=40,
        description="The organisation (its id, org_...) a person's first SSO sign-in joins; "
        "unset: the oldest organisation (the one bootstrap made). Naming no organisation "
        "refuses first sign-ins (409 sso_org_not_found)",
    )

    @model_validator(mode="after")
    def _check_oidc(self) -> Settings:
        chosen = (self.oidc_issuer, self.oidc_client_id, self.oidc_client_secret)
        if all(v is None for v in chosen):
            return self
        missing = [
            f"AVSB_{name.upper()}"
            for name, value in (
                ("oidc_issuer", self.oidc_issuer),
                ("oidc_client_id", self.oidc_client_id),
                ("oidc_client_secret", self.oidc_client_secret),
                ("oidc_allowed_domains", self.oidc_allowed_domains.strip() or None),
                ("public_url", self.public_url),
            )
            if value is None
        ]
        if missing:
            raise ValueError(f"single sign-on needs {', '.join(missing)} as well")
        issuer = urlsplit(self.oidc_issuer or "")
        if issuer.scheme != "https" and issuer.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("AVSB_OIDC_ISSUER must be an https URL (http only on loopback)")
        return self

    @property
    def oidc_domains(self) -> frozenset[str]:
        """The allowed e-mail domains, lower-case."""
        return frozenset(
            d.strip().lower().lstrip("@") for d in self.oidc_allowed_domains.split(",") if d.strip()
        )

    sse_heartbeat_seconds: float = Field(
        default=15.0, gt=0, le=3600, description="Streams: a comment line this often"
    )
    sse_max_streams_per_key: int = Field(
        default=100, ge=1, description="Streams open at once per SDK key and process (429 past)"
    )
    sse_max_streams: int = Field(
        default=10_000, ge=1, description="Streams open at once per process (503 past)"
    )
    sse_retry_ms: int = Field(
        default=1_000, ge=0, description="Streams: the reconnection delay suggested to clients"
    )
    shutdown_grace_seconds: int = Field(
        default=5,
        ge=1,
        description="On shutdown, requests still running (open streams) after this are cancelled, "
        "and background database work still running after this is left to finish alone",
    )
    keep_alive_seconds: int = Field(
        default=75,
        ge=1,
        le=3600,
        description=(
            "An idle keep-alive connection is closed after this; keep it above the idle "
            "timeout of a proxy or load balancer in front (60 s on AWS ALB), or it reuses a "
            "connection the server is closing and its client gets a reset or a 502"
        ),
    )

    relay_poll_seconds: float = Field(
        default=30.0, gt=0, description="Relay: the config is polled this often (ETag) as well"
    )
    relay_queue_size: int = Field(
        default=100_000, ge=1, description="Relay: exposures held for upstream; past it, dropped"
    )
    relay_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Relay: exposures sent upstream per request"
    )
    relay_flush_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="Relay: held exposures are sent this often"
    )

    owner_email: str | None = Field(
        default=None, description="First start: the owner's email (default owner@localhost)"
    )
    owner_password: SecretStr | None = Field(
        default=None, description="First start: the owner's password (default: printed once)"
    )
    session_idle_seconds: float = Field(
        default=8 * 3600.0, gt=0, description="A session unused this long is signed out"
    )
    session_max_seconds: float = Field(
        default=7 * 24 * 3600.0, gt=0, description="A session ends this long after sign-in"
    )
    login_failures_per_minute: int = Field(
        default=10, ge=1, description="Failed sign-ins per client address and minute, then 429"
    )
    login_failures_per_account_per_minute: int = Field(
        default=5, ge=1, description="Failed sign-ins per email and minute, then 429"
    )
    argon2_time_cost: int = Field(
        default=3, ge=1, le=20, description="argon2id passes per password hash (RFC 9106)"
    )
    argon2_memory_kib: int = Field(
        default=65536,
        ge=1024,
        le=4 * 1024 * 1024,
        description="argon2id memory per password hash, KiB",
    )
    argon2_parallelism: int = Field(
        default=4, ge=1, le=64, description="argon2id lanes per password hash"
    )
    invitation_days: int = Field(
        default=7, ge=1, le=90, description="An invitation link works this many days, once"
    )
    smtp_host: str | None = Field(default=None, description="Invitations by email when set")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port")
    smtp_username: str | None = Field(
        default=None, description="SMTP login, if the server needs one"
    )
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_from: str = Field(default="avsb@localhost", description="From address of invitation mail")
    smtp_starttls: bool = Field(
        default=False, description="Upgrade the SMTP connection with STARTTLS"
    )
    llm_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#]+[^\s?#]*$",
        description="Base URL of an OpenAI-compatible API (e.g. https://host/v1) for the "
        "optional language-model pass of the design review and hypotheses; unset: off",
    )
    llm_model: str = Field(
        default="gpt-4o-mini", min_length=1, description="Model name sent to AVSB_LLM_URL"
    )
    llm_api_key: SecretStr | None = Field(
        default=None, description="Bearer token for AVSB_LLM_URL; never logged or returned"
    )
    llm_timeout_seconds: float = Field(
        default=8.0,
        gt=0,
        le=120,
        description="Overall deadline of one language-model call; past it the rule-based "
        "answer is returned alone",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None,
        description="The Slack app's signing secret; the /api/slack routes answer 404 without it",
    )
    slack_client_id: str | None = Field(
        default=None, description="The Slack app's client id (OAuth install)"
    )
    slack_client_secret: SecretStr | None = Field(
        default=None, description="The Slack app's client secret (OAuth install)"
    )
    slack_bot_token: SecretStr | None = Field(
        default=None,
        description="A bot token for a single-workspace install without OAuth (never stored)",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
        description="Base URL of Slack's Web API (methods are appended to it)",
    )
    slack_request_max_age_seconds: int = Field(
        default=300,
        ge=30,
        le=3600,
        description="A Slack request whose signed timestamp is older (or newer) is refused",
    )
    slack_retry_schedule_seconds: list[NonNegativeFloat] = Field(
        default=[10, 60, 300, 1800, 3600],
        max_length=50,
        description="Delay before each retry of a failed Slack post (JSON list); then failed",
    )
    slack_poll_seconds: float = Field(
        default=1.0, gt=0, description="How often the Slack worker looks for messages to post"
    )
    slack_digest_weekday: int = Field(
        default=0, ge=0, le=6, description="Weekly digest day, UTC (0 = Monday)"
    )
    slack_digest_hour: int = Field(default=9, ge=0, le=23, description="Weekly digest hour, UTC")

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        parse_networks(value)  # ValueError names the bad entry
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_cors_origins(cls, value: str) -> str:
        parse_setting(value)  # ValueError names the bad origin
        return value

    @property
    def resolved_database_url(self) -> str:
        """The metadata database URL (SQLite file under data_dir unless set)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'avsb.sqlite3').resolve()}"

    @property
    def resolved_events_url(self) -> str:
        """The event store URL (DuckDB file beside the SQLite one unless set)."""
        if self.events_url:
            return self.events_url
        return f"duckdb://{(self.data_dir / 'events.duckdb').resolve()}"

    @property
    def secure_cookies(self) -> bool:
        """Session cookies are ``Secure`` when people reach the server over https."""
        return bool(self.public_url and self.public_url.lower().startswith("https://"))

    @property
    def is_sqlite(self) -> bool:
        """True when the metadata database is SQLite."""
        return self.resolved_database_url.startswith("sqlite")
