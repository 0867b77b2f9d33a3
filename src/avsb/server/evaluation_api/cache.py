"""Every project's compiled config, held in memory and rebuilt in the background on change.

The hot path only ever calls `ConfigCache.get`: a dict lookup, no I/O. Writes bump the
`project:{id}` change scope; the change watcher tells this cache (at once for this process's
own commits, at the next poll for other processes'), and one worker thread recompiles the
project and swaps the new entry in with a single dict assignment. A project not compiled
yet is simply absent.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import orjson

from avsb.server.db import Database
from avsb.server.evaluation_api import compiler, repository
from avsb.server.evaluation_api.worker import BackgroundLoop
from avsb.server.events.types import json_text
from avsb.server.kit.metrics import Metrics
from avsb_sdk.evaluation import (
    Assignment,
    CompiledConfig,
    ConfigError,
    FlagValue,
    ProjectConfig,
    compile_config,
)
from avsb_sdk.evaluation.config_json import config_to_dict
from avsb_sdk.evaluation.fingerprints import flag_fingerprints

log = logging.getLogger("avsb.server.evaluation")

SCOPE_PREFIX = "project:"
RETRY_SECONDS = 1.0
"""How long a project whose rebuild failed (database unreachable) waits before a retry."""
NOT_READY = "The project's configuration is not loaded yet; retry."
"""What the evaluation routes answer for a project `ConfigCache.lookup` finds pending (ABC
105, HTTP 503)."""
RETRY = {"Retry-After": "1"}


MEMO_BYTES = 8 << 20
"""Bytes of bodies and answers an `AnswerMemo` holds before it starts over."""
MEMO_MAX_BODY = 4096
"""Request bodies larger than this are not remembered."""


Exposed = tuple[str, str]
"""An exposure an answer logs: (experiment key, variant key)."""

Remembered = tuple[bytes, str, str, tuple[Exposed, ...]]
"""A successful evaluation answer as a route computed it: (its bytes, the unit id, the unit's
attributes as JSON text, the exposures it logs). `EvaluationRuntime.answer` logs the
exposures and remembers only the bytes (`AnswerMemo`): a replay logs nothing, as the
answer's exposures were logged when it was computed (an answer whose exposures the full
buffer dropped is not remembered, so its next request logs them)."""


def remembered(
    body: bytes,
    unit_id: str = "",
    attributes: Mapping[str, object] | None = None,
    assignments: Iterable[Assignment] = (),
) -> Remembered:
    """An answer to remember: its bytes, and the real assignments among `assignments` as
    the exposures it logs (with the unit's attributes, encoded once here)."""
    exposed = tuple((a.experiment_key, a.variant_key) for a in assignments if a.assigned)
    return body, unit_id, json_text(attributes or {}) if exposed else "{}", exposed


class AnswerMemo:
    """Answer bodies by (route, request body) under one compiled config.

    An evaluation is a pure function of the config and the request (no clock, no I/O), and a
    config change builds a new `CompiledProject` with an empty memo, so a remembered answer is
    the answer. Only successes are remembered, and only their bytes: a replay logs nothing
    (`EvaluationRuntime.answer`), so the rest of a `Remembered` is not kept. Used from the
    event loop only.

    Bounded by `MEMO_BYTES` of request and answer bodies: past it, the oldest entries go
    first. Under never-seen units, where every answer is put, this keeps the memo's memory
    steady: each entry's bytes reuse those of the one it evicted. Emptying the whole memo when
    full, as it once did, handed its memory back to the allocator all at once, and refilling
    it took fresh memory again: that cycle cost the event loop 6-10 us per answer.
    """

    __slots__ = ("_bytes", "_keys", "_routes", "_tables")

    def __init__(self) -> None:
        self._routes: dict[str, dict[bytes, bytes]] = {}
        self._tables: deque[dict[bytes, bytes]] = deque()  # with `_keys`: oldest entry first
        self._keys: deque[bytes] = deque()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, route: str, raw: bytes) -> bytes | None:
        answers = self._routes.get(route)
        return None if answers is None else answers.get(raw)

    def put(self, route: str, raw: bytes, body: bytes) -> None:
        size = len(raw) + len(body)
        if len(raw) > MEMO_MAX_BODY or size > MEMO_BYTES:
            return
        answers = self._routes.get(route)
        if answers is None:
            answers = self._routes[route] = {}
        elif raw in answers:
            return
        while self._bytes + size > MEMO_BYTES:
            old_raw = self._keys.popleft()
            self._bytes -= len(old_raw) + len(self._tables.popleft().pop(old_raw))
        answers[raw] = body
        self._tables.append(answers)
        self._keys.append(raw)
        self._bytes += size


MAX_PARTS = 10_000
"""Encoded pieces a config keeps (`abc_parts`, `ofrep_parts`, `stream_links`): its layers' and
flags' answers (variants, rules, defaults) and its SDK keys, far fewer than this; the bound
only matters should an evaluator ever make answers per unit."""

JOINED_BYTES = 2 << 20
"""Bytes of whole answers a `JoinedAnswers` keeps; past them, answers are joined per call."""


class JoinedAnswers:
    """Whole answers by the encoded parts they join, each with its ETag, under one config.

    An OFREP bulk answer joins one encoded answer per flag (`ofrep_routes.entry_json`), and
    a flag's answer is one of the few objects its compiled form holds, so the bulk answers
    a config gives are few: one per combination of flag answers that units meet, per SDK
    key. Keyed by the ids of those objects, an entry holds them, so no other object can
    take one of their ids while it lives. A never-seen unit whose combination was met
    before gets the same bytes object, and its ETag, with no join and no hash; the answer
    memo then holds the shared bytes, not a copy per unit. Used from the event loop only.
    """

    __slots__ = ("_answers", "_bytes", "_etags")

    def __init__(self) -> None:
        self._answers: dict[tuple[object, ...], tuple[tuple[object, ...], bytes]] = {}
        self._etags: dict[int, tuple[bytes, str]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: tuple[object, ...]) -> bytes | None:
        """The answer joined from the parts whose ids (and the caller's scope) make `key`."""
        found = self._answers.get(key)
        return None if found is None else found[1]

    def put(self, key: tuple[object, ...], parts: tuple[object, ...], body: bytes) -> bytes:
        """Keep `body`, the answer joined from `parts`, under `key`, while the bytes bound
        allows; returns `body`."""
        if self._bytes + len(body) <= JOINED_BYTES:
            self._answers[key] = (parts, body)
            self._etags[id(body)] = (body, content_etag(body))
            self._bytes += len(body)
        return body

    def etag(self, body: bytes) -> str:
        """`content_etag(body)`, kept for the answers this table holds."""
        known = self._etags.get(id(body))
        if known is not None and known[0] is body:
            return known[1]
        return content_etag(body)


@dataclass(frozen=True, slots=True, eq=False)
class CompiledProject:
    """One project's compiled config with its JSON form and ETag, ready to serve."""

    org_id: str
    project_id: str
    project_key: str
    revision: int
    compiled: CompiledConfig
    config_json: bytes
    etag: str
    flag_revisions: Mapping[str, str]
    """Each flag's fingerprint (`avsb_sdk.evaluation.fingerprints`): OFREP `metadata.revision`."""
    answers: AnswerMemo = field(default_factory=AnswerMemo, repr=False)
    """This config's answers to repeated request bodies."""
    abc_parts: dict[int, tuple[Assignment, str, bytes]] = field(default_factory=dict, repr=False)
    """Each layer answer's ABC JSON, encoded once (`abc_routes.experiments_body`)."""
    ofrep_parts: dict[int, tuple[FlagValue, bytes]] = field(default_factory=dict, repr=False)
    """Each flag answer's OFREP JSON, encoded once (`ofrep_routes.entry_json`)."""
    stream_links: dict[str, bytes] = field(default_factory=dict, repr=False)
    """The OFREP `eventStreams` JSON of each SDK key that asked (`ofrep_routes.OfrepBulk`)."""
    bulk_answers: JoinedAnswers = field(default_factory=JoinedAnswers, repr=False)
    """OFREP bulk answers by SDK key and the flag answers they join (`ofrep_routes`)."""

    def is_named(self, project: object) -> bool:
        """Whether `project` (from a request body) is this project's id or key."""
        return project == self.project_id or project == self.project_key


def content_etag(body: bytes) -> str:
    """A weak ETag of a body's content: equal bodies get equal tags, in every process."""
    return f'W/"{hashlib.sha256(body).hexdigest()[:16]}"'


def build_entry(org_id: str, config: ProjectConfig) -> CompiledProject:
    """Compile a config and serialise it once; raises ConfigError when it is inconsistent."""
    compiled = compile_config(config)
    try:
        payload = orjson.dumps(config_to_dict(config))
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits in a flag value
        raise ConfigError("flags", f"not serialisable: {exc}") from None
    return CompiledProject(
        org_id=org_id,
        project_id=config.project_id,
        project_key=config.project_key,
        revision=config.revision,
        compiled=compiled,
        config_json=payload,
        etag=content_etag(payload),
        flag_revisions=MappingProxyType(flag_fingerprints(config)),
    )


class ConfigCache(BackgroundLoop):
    """Compiled configs by project id; rebuilt by one background thread."""

    thread_name = "avsb-config-cache"

    def __init__(self, db: Database, metrics: Metrics) -> None:
        super().__init__()
        self._db = db
        self._metrics = metrics
        self._entries: dict[str, CompiledProject] = {}
        self._swap_lock = threading.Lock()
        self._dirty: set[str] = set()
        self._busy = False
        self._reload_all = False
        metrics.gauge(
            "avsb_config_projects", lambda: float(len(self._entries)), "Compiled project configs."
        )
        for name, doc in (
            ("avsb_config_builds_total", "Project configs compiled."),
            ("avsb_config_build_failures_total", "Project config compilations that failed."),
        ):
            metrics.inc(name, amount=0.0, doc=doc)

    def get(self, project_id: str) -> CompiledProject | None:
        """The compiled config of a project, or None when it is not compiled (no I/O)."""
        return self._entries.get(project_id)

    def lookup(self, project_id: str) -> tuple[CompiledProject | None, bool]:
        """For a caller `get` gave None: (the compiled config, False) if it was swapped in
        meanwhile, else (None, whether the project exists: it is being compiled, the database
        was unreachable, or its stored config failed to compile). Reads the database.

        The entries are read again after the database: a rebuild finishing between the
        caller's `get` and this read must not make a project being compiled look deleted."""
        with self._db.session(write=False) as session:
            exists = repository.project_exists(session, project_id)
        entry = self._entries.get(project_id)
        return entry, entry is None and exists

    def on_change(self, scope: str, _version: int) -> None:
        """Change-watcher listener: schedule a rebuild of the project whose config changed."""
        if scope.startswith(SCOPE_PREFIX):
            self.mark_dirty(scope.removeprefix(SCOPE_PREFIX))

    def mark_dirty(self, project_id: str) -> None:
        with self._cond:
            self._dirty.add(project_id)
            self._cond.notify()

    def load_all(self) -> bool:
        """Compile every project now (at startup); False when the database is unreachable
        (the rebuild thread then retries until it answers)."""
        try:
            with self._db.session(write=False) as session:
                ids = repository.project_ids(session)
        except Exception:
            log.exception("project configs not loaded; will retry")
            self._metrics.inc("avsb_config_build_failures_total")
            with self._cond:
                self._reload_all = True
                self._cond.notify()
            return False
        for project_id in ids:
            if not self.rebuild(project_id):
                self.mark_dirty(project_id)
        return True

    def rebuild(self, project_id: str) -> bool:
        """Recompile one project; False when it should be retried (the database failed)."""
        try:
            with self._db.session(write=False) as session:
                if not self._db.is_sqlite:  # one snapshot for the version and the data
                    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                found = compiler.read_project_config(session, project_id)
            entry = None if found is None else build_entry(*found)
        except ConfigError as exc:
            # Stored data the core refuses: keep serving the last good config.
            log.error("config of project %s not compiled: %s", project_id, exc)
            self._metrics.inc("avsb_config_build_failures_total")
            return True
        except Exception:
            log.exception("config of project %s not compiled; will retry", project_id)
            self._metrics.inc("avsb_config_build_failures_total")
            return False
        self._swap(project_id, entry)
        self._metrics.inc("avsb_config_builds_total")
        return True

    def _swap(self, project_id: str, entry: CompiledProject | None) -> None:
        with self._swap_lock:
            if entry is None:
                self._entries.pop(project_id, None)
                return
            current = self._entries.get(project_id)
            if current is None or entry.revision >= current.revision:
                self._entries[project_id] = entry

    def _idle(self) -> bool:
        return not (self._dirty or self._reload_all or self._busy)

    def _next_batch(self) -> tuple[bool, set[str]] | None:
        """(reload every project?, projects to rebuild), or None on shutdown."""
        with self._cond:
            while not (self._dirty or self._reload_all or self._stopping):
                self._cond.wait()
            if self._stopping:
                return None
            work = (self._reload_all, self._dirty)
            self._reload_all, self._dirty, self._busy = False, set(), True
            return work

    def _run(self) -> None:
        while (work := self._next_batch()) is not None:
            reload_all, batch = work
            loaded = self.load_all() if reload_all else True
            failed = {p for p in sorted(batch) if not self.rebuild(p)}
            with self._cond:
                self._busy = False
                self._dirty |= failed
                self._cond.notify_all()
                if failed or not loaded:
                    self._cond.wait(RETRY_SECONDS)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no rebuild is pending or running; False if `timeout` s passed first or
        the cache stopped with work still pending (no thread will do it: a caller waiting
        out its timeout would only hold up the shutdown, as asyncio waits for its threads)."""
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or self._idle(), timeout)
            return self._idle()
