"""Settings: every knob is an ``AVSB_*`` environment variable, read here and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, NonNegativeFloat, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from avsb.server.auth.proxies import parse_networks

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
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Larger request bodies get 413"
    )
    idempotency_ttl_hours: int = Field(
        default=24, ge=1, description="How long an Idempotency-Key answer is replayed"
    )
    idempotency_lock_seconds: float = Field(
        default=60.0, gt=0, description="How long a request in flight holds its Idempotency-Key"
    )
    token_last_used_flush_seconds: float = Field(
        default=30.0, gt=0, description="Tokens' last-used times are written this often"
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

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        parse_networks(value)  # ValueError names the bad entry
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
    def is_sqlite(self) -> bool:
        """True when the metadata database is SQLite."""
        return self.resolved_database_url.startswith("sqlite")
