"""What a relay holds in place of a server's database-backed evaluation runtime: the project's
config as the upstream last sent it, a gate that admits the relay's own SDK key, and an
exposure buffer that forwards to the upstream. The server's evaluation handlers run on it
unchanged."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import orjson

from avsb.server.auth.principal import Principal
from avsb.server.auth.ratelimit import BucketPolicy, MemoryRateLimiter, RateDecision
from avsb.server.config import Settings
from avsb.server.errors import RateLimited, Unauthorized
from avsb.server.evaluation_api.cache import CompiledProject, ConfigCache, build_entry
from avsb.server.evaluation_api.exposures import ExposureBuffer, ExposureRecord, exposure_event_id
from avsb.server.evaluation_api.gate import RATE_FAMILY, Gate, SdkSecrets, abc_signature
from avsb.server.evaluation_api.state import EvaluationRuntime
from avsb.server.events import EventStore
from avsb.server.kit.metrics import Metrics
from avsb_sdk.evaluation import ConfigError
from avsb_sdk.evaluation.config_json import config_from_dict

log = logging.getLogger("avsb.relay")
RELAY_KEY_ID = "relay"


class RelayConfig(ConfigCache):
    """The one project's compiled config, replaced whole when the upstream sends a new one."""

    def __init__(self, metrics: Metrics) -> None:  # no database: the upstream is the source
        self._metrics = metrics
        self._entry: CompiledProject | None = None
        self._lock = threading.Lock()
        self.etag: str | None = None
        metrics.gauge(
            "avsb_relay_config_loaded",
            lambda: float(self._entry is not None),
            "1 once the relay holds the project's config.",
        )

    @property
    def current(self) -> CompiledProject | None:
        return self._entry

    def get(self, project_id: str) -> CompiledProject | None:
        entry = self._entry
        return entry if entry is not None and entry.project_id == project_id else None

    def lookup(self, project_id: str) -> tuple[CompiledProject | None, bool]:
        """Until the first config arrives every request waits for it (503, Retry-After)."""
        entry = self._entry
        if entry is None:
            return None, True
        return (entry, False) if entry.project_id == project_id else (None, False)

    def wait_idle(self, timeout: float) -> bool:
        return True  # a config is swapped in whole, never half-built

    def load(self, org_id: str, data: object, etag: str) -> bool:
        """Compile a config sent by the upstream; True when it replaced the current one."""
        try:
            entry = build_entry(org_id, config_from_dict(data))
        except ConfigError as exc:
            log.error("upstream config refused, the last good one is kept: %s", exc)
            self._metrics.inc("avsb_relay_config_failures_total", doc="Upstream configs refused.")
            return False
        with self._lock:
            current = self._entry
            self.etag = etag
            if current is not None and current.etag == entry.etag:
                return False
            self._entry = entry
        self._metrics.inc("avsb_relay_config_updates_total", doc="Configs taken from upstream.")
        return True


class RelaySecrets(SdkSecrets):
    """The relay knows one SDK key: its own."""

    def __init__(self, sdk_key: str) -> None:
        self._key = sdk_key

    def cached(self, key_id: str) -> tuple[str, ...] | None:
        return (self._key,) if key_id == RELAY_KEY_ID else ()

    def load(self, key_id: str) -> tuple[str, ...]:
        return self.cached(key_id) or ()


class RelayGate(Gate):
    """Admits the relay's SDK key (as a bearer token or an ABC signature made with it)."""

    def __init__(self, sdk_key: str, config: RelayConfig, settings: Settings,
                 metrics: Metrics) -> None:  # fmt: skip
        self._key = sdk_key.encode()
        self._config = config
        self._metrics = metrics
        self._skew = settings.abc_max_clock_skew_seconds
        policy = BucketPolicy(
            settings.evaluation_rate_limit_per_minute, settings.evaluation_rate_limit_burst
        )
        self._relay_limiter = MemoryRateLimiter(policy)

    def _principal(self) -> Principal:
        entry = self._config.current
        org, project = ("", "") if entry is None else (entry.org_id, entry.project_id)
        return Principal(RELAY_KEY_ID, org, "sdk", "relay", frozenset(), False, project)

    # The relay never does I/O to admit a request: every check answers at once.

    def bearer_now(self, raw: str | None, ip: str) -> Principal:
        if raw is None:
            raise Unauthorized("Send an SDK key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
        if not hmac.compare_digest(raw.encode(), self._key):
            self._metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
            raise Unauthorized("This relay serves one SDK key; this is not it.")
        return self._principal()

    async def bearer(self, raw: str | None, ip: str) -> Principal:
        return self.bearer_now(raw, ip)

    def signature_now(self, ak: str | None, et: str | None, es: str | None, ip: str) -> Principal:
        if not ak or not et or not es:
            raise Unauthorized("Send the X-Ak, X-Et and X-Es signature headers.")
        if not (len(et) <= 12 and et.isdigit()) or abs(time.time() - int(et)) > self._skew:
            raise Unauthorized(f"X-Et must be unix seconds within {self._skew} s of now.")
        expected = abc_signature(self._key.decode(), ak, et).encode()
        if not hmac.compare_digest(expected, es.strip().lower().encode()):
            raise Unauthorized("The signature does not match the relay's SDK key.")
        return self._principal()

    async def signature(self, ak: str | None, et: str | None, es: str | None, ip: str) -> Principal:
        return self.signature_now(ak, et, es, ip)

    def admit_now(self, principal: Principal) -> RateDecision:
        decision = self._relay_limiter.acquire(f"{principal.token_id}:{RATE_FAMILY}")
        if not decision.allowed:
            raise RateLimited(
                f"Rate limit of {decision.limit} evaluation requests per minute exceeded.",
                headers=decision.headers(),
            )
        return decision

    async def admit(self, principal: Principal) -> RateDecision:
        return self.admit_now(principal)


class ForwardedExposures(ExposureBuffer):
    """The server's exposure buffer (bounded, batched, retried with backoff, drops counted);
    a flush posts the batch to the upstream's event ingestion instead of a local store."""

    def __init__(self, settings: Settings, post: Callable[[str, str, list[object]], None],
                 metrics: Metrics) -> None:  # fmt: skip
        settings = settings.model_copy(update={
            "exposure_buffer_size": settings.relay_queue_size,
            "exposure_flush_batch_size": settings.relay_batch_size,
            "exposure_flush_seconds": settings.relay_flush_seconds,
        })  # fmt: skip
        super().__init__(settings, _no_store, metrics)
        self._post = post

    def _write(self, chunk: list[ExposureRecord]) -> None:
        for (org_id, project_id), events in _upstream_batches(chunk).items():
            self._post(org_id, project_id, events)  # idempotent: event ids

    def _failed(self, count: int, exc: Exception) -> None:
        if isinstance(exc, httpx.HTTPError | UpstreamError):
            log.warning("%d exposures not forwarded (%s); kept for a retry", count, exc)
        else:
            super()._failed(count, exc)


class UpstreamError(Exception):
    """The upstream answered a forwarded batch with an error status."""


def _upstream_batches(records: list[ExposureRecord]) -> dict[tuple[str, str], list[object]]:
    """The exposures of `records` as ingestion events, by (org, project)."""
    out: dict[tuple[str, str], list[object]] = {}
    for org_id, project_id, unit_id, at_us, attributes, pairs in records:
        events = out.setdefault((org_id, project_id), [])
        timestamp = datetime.fromtimestamp(at_us / 1_000_000, UTC).isoformat()
        decoded = orjson.loads(attributes)  # once per record, shared by its events
        for experiment, variant in pairs:
            events.append({
                "type": "exposure",
                "event_id": exposure_event_id(experiment, unit_id),
                "experiment": experiment,
                "variant": variant,
                "unit_id": unit_id,
                "timestamp": timestamp,
                "attributes": decoded,
            })  # fmt: skip
    return out


def _no_store() -> EventStore:
    raise RuntimeError("a relay forwards exposures upstream; it has no event store")


class RelayRuntime(EvaluationRuntime):
    """The evaluation runtime the server's handlers expect, backed by the upstream."""

    def __init__(self, settings: Settings, sdk_key: str, metrics: Metrics,
                 post: Callable[[str, str, list[object]], None]) -> None:  # fmt: skip
        self.metrics = metrics
        self.cache = self.config = RelayConfig(metrics)
        self.exposures = ForwardedExposures(settings, post, metrics)
        self.secrets = RelaySecrets(sdk_key)
        self.gate = RelayGate(sdk_key, self.config, settings, metrics)
        self.streams = None
