"""What one process holds for the evaluation routes: compiled configs, the exposure buffer,
SDK key secrets and the evaluation rate limiter; started and stopped by the app's lifespan."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool

from avsb.server.auth.authenticator import TOKEN_SCOPE, Authenticator
from avsb.server.auth.ratelimit import BucketPolicy, make_limiter
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.evaluation_api.cache import CompiledProject, ConfigCache, Remembered
from avsb.server.evaluation_api.exposures import ExposureBuffer
from avsb.server.evaluation_api.gate import Gate, SdkSecrets
from avsb.server.evaluation_api.origins import OriginTable
from avsb.server.events import EventStore
from avsb.server.kit.changes import ChangeWatcher
from avsb.server.kit.metrics import Metrics
from avsb.server.kit.origins import parse_setting

if TYPE_CHECKING:
    from avsb.server.evaluation_api.streams import StreamHub


class EvaluationRuntime:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        metrics: Metrics,
        events: Callable[[], EventStore],
        authenticator: Authenticator,
    ) -> None:
        self.metrics = metrics
        self.cache = ConfigCache(db, metrics)
        self.exposures = ExposureBuffer(settings, events, metrics)
        self.secrets = SdkSecrets(db, settings.auth_cache_seconds)
        self.origins = OriginTable(db, parse_setting(settings.cors_origins))
        policy = BucketPolicy(
            settings.evaluation_rate_limit_per_minute, settings.evaluation_rate_limit_burst
        )
        limiter = make_limiter(db, policy, settings.rate_limit_storage, refill_ahead=True)
        self.gate = Gate(
            authenticator, limiter, self.secrets, metrics, settings.abc_max_clock_skew_seconds
        )
        self.streams: StreamHub | None = None  # the event streams, once registered

    def answer(
        self, project: CompiledProject, route: str, raw: bytes, compute: Callable[[], Remembered]
    ) -> bytes:
        """The answer to request body `raw` on `route` under `project`'s config: the one
        remembered for this body, else `compute()`'s (a failure raises). A computed answer
        logs its exposures and is remembered; a remembered one was logged when computed, so
        a replay logs nothing. An answer whose exposures the full buffer dropped is not
        remembered: the next identical request computes and logs it again."""
        known = project.answers.get(route, raw)
        if known is not None:
            return known
        fresh = compute()
        body, unit_id, attributes, exposed = fresh
        if exposed and not self.exposures.log(project, unit_id, attributes, exposed):
            return body
        project.answers.put(route, raw, body)
        return body

    def subscribe(self, watcher: ChangeWatcher) -> None:
        """Follow config and token changes (this process's at once, others' at each poll)."""
        watcher.subscribe(self.cache.on_change)
        watcher.subscribe(self.secrets.invalidate)
        watcher.subscribe(self.origins.on_change)

    async def start(self) -> None:
        """Compile every project, then start the rebuild and exposure-flush threads."""
        await run_in_threadpool(self.cache.load_all)
        self.cache.start()
        try:
            await run_in_threadpool(self.origins.load)
        except Exception:  # the database may come up later: the thread retries
            self.origins.on_change(TOKEN_SCOPE, -1)
        self.origins.start()
        self.exposures.start()

    async def stop(self, seconds: float = 5.0) -> None:
        """Stop the threads; buffered exposures are written before this returns, after the
        gate's database work under way has ended (given `seconds`)."""
        await self.gate.drain(seconds)
        await run_in_threadpool(self.cache.stop)
        await run_in_threadpool(self.origins.stop)
        await run_in_threadpool(self.exposures.stop)
