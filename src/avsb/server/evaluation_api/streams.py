"""Server-sent events of config versions: `GET /api/sdk/config/stream` (SDK keys, as the SDK
config route) and `GET /ofrep/v1/events` (the OFREP `eventStreams` entry of a bulk answer).

One `StreamHub` per process follows config changes and fans them out to every open stream:
the change watcher (this process's commits at once, other processes' at each poll of the
change versions) wakes one task, which waits for the config cache to settle and hands each
stream of a changed project its new frame. No stream reads the database.

An event's `id` is the config version: the hex of its content ETag, equal in every process,
so a client reconnecting with `Last-Event-ID` of an older version gets the current one at
once. Heartbeats are comment lines. Streams end on client disconnect; on server shutdown
they are cancelled after `AVSB_SHUTDOWN_GRACE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import Message, Receive, Scope, Send

from avsb.server.config import Settings
from avsb.server.errors import (
    AvsbError,
    InvalidCursor,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from avsb.server.evaluation_api.asgi import EvalRequest, Handler, envelope_error, respond
from avsb.server.evaluation_api.cache import SCOPE_PREFIX, CompiledProject
from avsb.server.evaluation_api.origins import SCOPE_KEY_ID
from avsb.server.evaluation_api.sdk_routes import Answering, _SdkEndpoint
from avsb.server.evaluation_api.state import EvaluationRuntime
from avsb.server.kit.metrics import Metrics
from avsb.server.kit.pagination import CursorSigner
from avsb.server.runtime import Runtime

log = logging.getLogger("avsb.server.evaluation")

SDK_STREAM_PATH = "/api/sdk/config/stream"
OFREP_STREAM_PATH = "/ofrep/v1/events"
_SIGNED_SCOPE = "ofrep-events"
_SETTLE_SECONDS = 5.0
_HEARTBEAT = b": ping\n\n"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"x-accel-buffering", b"no"),  # proxies must pass each event on at once
]
SDK, SDK_WITH_CONFIG, OFREP = "sdk", "sdk+config", "ofrep"


def version_of(project: CompiledProject) -> str:
    """The config version an event carries as its id: the hex inside the content ETag."""
    return project.etag.removeprefix("W/").strip('"')


def frame(kind: str, project: CompiledProject) -> bytes:
    """The SSE event announcing `project`'s config to a stream of `kind`."""
    version = version_of(project).encode()
    if kind == OFREP:  # the OFREP ADR 0008 message: event "message", JSON data with a type
        data = orjson.dumps({"type": "refetchEvaluation", "etag": project.etag})
        return b"id: %s\nevent: message\ndata: %s\n\n" % (version, data)
    head = orjson.dumps({"version": version.decode(), "etag": project.etag,
                         "revision": project.revision, "org_id": project.org_id,
                         "project_id": project.project_id})  # fmt: skip
    if kind == SDK_WITH_CONFIG:
        data = head[:-1] + b',"config":' + project.config_json + b"}"
    else:
        data = head
    return b"id: %s\nevent: config\ndata: %s\n\n" % (version, data)


@dataclass(eq=False, slots=True)
class Stream:
    """One open stream: what to send next, set by the hub, sent by the stream's own task."""

    project_id: str
    key_id: str
    kind: str
    version: str | None = None
    pending: bytes | None = None
    heartbeat: bool = False
    closed: bool = False
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class StreamHub:
    """The process's open streams by project, and the one task that feeds them."""

    def __init__(self, ev: EvaluationRuntime, signer: CursorSigner, *, heartbeat_seconds: float,
                 max_per_key: int, max_streams: int, retry_ms: int) -> None:  # fmt: skip
        self.ev = ev
        self.signer = signer
        self.heartbeat_seconds = heartbeat_seconds
        self.max_per_key = max_per_key
        self.max_streams = max_streams
        self.retry = b"retry: %d\n\n" % retry_ms
        self._by_project: dict[str, set[Stream]] = {}
        self._per_key: dict[str, int] = {}
        self._count = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._changed: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._ending = False
        metrics: Metrics = ev.metrics
        metrics.gauge("avsb_sse_streams", lambda: float(self._count), "Open event streams.")
        metrics.inc("avsb_sse_events_total", amount=0.0, doc="Config events sent to streams.")
        self._metrics = metrics

    # -- following changes ------------------------------------------------------------------

    def on_change(self, scope: str, _version: int) -> None:
        """Change-watcher listener (any thread): a project's config moved."""
        if scope.startswith(SCOPE_PREFIX):
            self.changed()

    def changed(self) -> None:
        """Wake the hub task (thread-safe); it publishes once the config cache settled."""
        loop, event = self._loop, self._changed
        if loop is None or event is None:
            return  # no stream was ever opened: nothing to tell
        with contextlib.suppress(RuntimeError):  # the loop closed: the process is exiting
            loop.call_soon_threadsafe(event.set)

    def _start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        self._tasks = [
            self._loop.create_task(self._follow(), name="avsb-sse-follow"),
            self._loop.create_task(self._beat(), name="avsb-sse-heartbeat"),
        ]

    async def _follow(self) -> None:
        assert self._changed is not None
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await asyncio.to_thread(self.ev.cache.wait_idle, _SETTLE_SECONDS)
                self.publish()
            except Exception:
                log.exception("config events not published")

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            for streams in self._by_project.values():
                for stream in streams:
                    stream.heartbeat = True
                    stream.ready.set()

    def publish(self) -> None:
        """Hand every stream whose project's config moved the frame of its new version."""
        sent = 0
        for project_id, streams in self._by_project.items():
            project = self.ev.cache.get(project_id)
            if project is None:
                continue
            version = version_of(project)
            frames: dict[str, bytes] = {}
            for stream in streams:
                if stream.version == version:
                    continue
                data = frames.get(stream.kind)
                if data is None:
                    data = frames[stream.kind] = frame(stream.kind, project)
                stream.version, stream.pending = version, data
                stream.ready.set()
                sent += 1
        if sent:
            self._metrics.inc("avsb_sse_events_total", amount=float(sent))

    # -- streams ----------------------------------------------------------------------------

    def open(self, project_id: str, key_id: str, kind: str) -> Stream:
        """Register a stream; 429 past the key's bound, 503 past the process's."""
        if self._ending:
            raise ServiceUnavailable("The server is shutting down.", code="shutting_down")
        if self._count >= self.max_streams:
            raise ServiceUnavailable(
                f"This server holds its maximum of {self.max_streams} event streams.",
                code="too_many_streams",
            )
        if self._per_key.get(key_id, 0) >= self.max_per_key:
            raise RateLimited(
                f"This SDK key holds its maximum of {self.max_per_key} event streams "
                "on this server; close one first.",
                code="too_many_streams",
                headers={"Retry-After": "5"},
            )
        self._start()
        stream = Stream(project_id, key_id, kind)
        self._by_project.setdefault(project_id, set()).add(stream)
        self._per_key[key_id] = self._per_key.get(key_id, 0) + 1
        self._count += 1
        return stream

    def end_all(self) -> None:
        """End every open stream (thread-safe; the server is shutting down): each answers
        its last chunk, so the server's connections finish without being cancelled."""
        self._ending = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._end_all)

    def _end_all(self) -> None:
        for streams in self._by_project.values():
            for stream in streams:
                stream.closed = True
                stream.ready.set()

    def close(self, stream: Stream) -> None:
        streams = self._by_project.get(stream.project_id)
        if streams is None or stream not in streams:
            return
        streams.discard(stream)
        if not streams:
            del self._by_project[stream.project_id]
        left = self._per_key[stream.key_id] - 1
        if left:
            self._per_key[stream.key_id] = left
        else:
            del self._per_key[stream.key_id]
        self._count -= 1

    async def serve(
        self,
        stream: Stream,
        current: CompiledProject,
        last_event_id: str | None,
        receive: Receive,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Answer an admitted stream until the client leaves (or the task is cancelled)."""
        try:
            version = version_of(current)
            stream.version = version
            first = self.retry
            if last_event_id != version and (stream.kind != OFREP or last_event_id is not None):
                first += frame(stream.kind, current)  # a new client, or one that missed events
            start: Message = {"type": "http.response.start", "status": 200,
                              "headers": [*_SSE_HEADERS, *headers]}  # fmt: skip
            await send(start)
            await send({"type": "http.response.body", "body": first, "more_body": True})
            watch = asyncio.ensure_future(_until_disconnect(receive, stream))
            try:
                await self._pump(stream, send)
            finally:
                watch.cancel()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away while a frame was being written
            pass
        finally:
            self.close(stream)

    async def _pump(self, stream: Stream, send: Send) -> None:
        while True:
            await stream.ready.wait()
            stream.ready.clear()
            if stream.closed:
                return
            chunk = b""
            if stream.pending is not None:
                chunk, stream.pending = stream.pending, None
            if stream.heartbeat:
                chunk, stream.heartbeat = chunk + _HEARTBEAT, False
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})

    # -- OFREP eventStreams -----------------------------------------------------------------

    def ofrep_link(self, key_id: str, project_id: str) -> list[dict[str, object]]:
        """The `eventStreams` of an OFREP bulk answer to this key: our SSE endpoint, with a
        token that names the key (a browser `EventSource` sends no headers)."""
        token = self.signer.encode(_SIGNED_SCOPE, f"{key_id}:{project_id}")
        uri = f"{OFREP_STREAM_PATH}?token={token}"
        return [{"type": "sse", "endpoint": {"requestUri": uri}, "inactivityDelaySec": 120}]

    def signed_key(self, token: str) -> tuple[str, str]:
        """(key id, project id) of an eventStreams token; 401 when forged or malformed."""
        try:
            key_id, _, project_id = self.signer.decode(_SIGNED_SCOPE, token).partition(":")
        except InvalidCursor:
            raise Unauthorized("The event stream token is not valid.") from None
        return key_id, project_id


async def _until_disconnect(receive: Receive, stream: Stream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.closed = True
    stream.ready.set()


def _last_event_id(request: EvalRequest) -> str | None:
    value = request.header(b"last-event-id")
    return value.strip() if value and value.strip() else None


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(raw, keep_blank_values=True))


class SdkConfigStream(_SdkEndpoint):
    """`GET /api/sdk/config/stream[?include=config]`: an event per config version."""

    def __init__(self, ev: EvaluationRuntime, hub: StreamHub) -> None:
        super().__init__(ev)
        self.hub = hub

    async def _answer(self, call: Answering, receive: Receive, send: Send) -> None:
        include = _query(call.request.scope).get("include", "")
        if include not in ("", "config"):
            raise AvsbError("include takes the value 'config' only.", code="invalid_parameter")
        kind = SDK_WITH_CONFIG if include == "config" else SDK
        stream = self.hub.open(call.project.project_id, call.key_id, kind)
        await self.hub.serve(stream, call.project, _last_event_id(call.request), receive, send,
                             call.headers)  # fmt: skip


class OfrepEventStream:
    """`GET /ofrep/v1/events?token=...`: OFREP `refetchEvaluation` events for one SDK key."""

    def __init__(self, ev: EvaluationRuntime, hub: StreamHub) -> None:
        self.ev = ev
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = EvalRequest(scope)
        try:
            key_id, project_id = self.hub.signed_key(_query(scope).get("token", ""))
            scope[SCOPE_KEY_ID] = key_id  # CORS answers with this key's origins
            secrets = self.ev.secrets.cached(key_id)
            if secrets is None:
                secrets = await run_in_threadpool(self.ev.secrets.load, key_id)
            if not secrets:
                raise Unauthorized("The SDK key of this event stream is revoked or unknown.")
            principal = await self.ev.gate.bearer(secrets[0], request.ip)  # expiry, revocation
            if principal.project_id != project_id:
                raise Unauthorized("The event stream token is not valid.")
            await self.ev.gate.admit(principal)  # as every evaluation request
            project = self.ev.cache.get(project_id)
            if project is None:
                raise ServiceUnavailable(
                    "The project's configuration is not loaded yet; retry.",
                    code="config_not_ready",
                )
            stream = self.hub.open(project_id, key_id, OFREP)
        except AvsbError as exc:
            body, headers = envelope_error(request, exc)
            await respond(send, exc.status_code, body, headers)
            return
        await self.hub.serve(stream, project, _last_event_id(request), receive, send, [])


Routes = dict[tuple[str, str], tuple[str, Handler]]


def build_hub(ev: EvaluationRuntime, signer: CursorSigner, settings: Settings) -> StreamHub:
    """The process's hub; OFREP bulk answers advertise its stream from now on."""
    hub = StreamHub(
        ev,
        signer,
        heartbeat_seconds=settings.sse_heartbeat_seconds,
        max_per_key=settings.sse_max_streams_per_key,
        max_streams=settings.sse_max_streams,
        retry_ms=settings.sse_retry_ms,
    )
    ev.streams = hub
    return hub


def stream_handlers(ev: EvaluationRuntime, hub: StreamHub) -> Routes:
    """(method, path) -> (route label, handler) of the two event streams."""
    return {
        ("GET", SDK_STREAM_PATH): (SDK_STREAM_PATH, SdkConfigStream(ev, hub)),
        ("GET", OFREP_STREAM_PATH): (OFREP_STREAM_PATH, OfrepEventStream(ev, hub)),
    }


def stream_routes(rt: Runtime) -> Routes:
    """The server's event streams, fed by its change watcher."""
    hub = build_hub(rt.evaluation, rt.signer, rt.settings)
    rt.watcher.subscribe(hub.on_change)  # after the config cache's: it has marked the project
    return stream_handlers(rt.evaluation, hub)
