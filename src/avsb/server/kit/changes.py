"""Change versions: a counter per scope, bumped in the writing transaction, polled by every
process so in-memory caches (tokens, compiled configs) follow writes made elsewhere.

A resource type whose changes move a cached scope declares it once with ``scoped``; the
shared resource machinery (``kit.resources``) then bumps that scope on every create, change,
state change, restore and delete of such a resource, once per transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from avsb.server.db import Database
from avsb.server.kit.threads import ended_within, in_thread
from avsb.server.models import ChangeVersion

log = logging.getLogger(__name__)
Listener = Callable[[str, int], None]


ScopeOf = Callable[[Any], str]
_SCOPES: dict[str, ScopeOf] = {}


def scoped(resource_type: str, scope_of: ScopeOf) -> None:
    """Declare that every write of a ``resource_type`` resource moves ``scope_of(resource)``."""
    _SCOPES[resource_type] = scope_of


def scope_of(resource_type: str, obj: Any) -> str | None:
    """The scope a write of ``obj`` moves, if its type declared one."""
    found = _SCOPES.get(resource_type)
    return found(obj) if found is not None else None


def bump(session: Session, scope: str) -> None:
    """Increment ``scope``'s version as part of the current transaction (once: a transaction
    that changes several things of one scope moves it by one)."""
    session.connection()  # begin the transaction, if not yet begun, to know which it is
    transaction = session.get_transaction()
    done: tuple[Any, set[str]] | None = session.info.get("bumped")
    if done is None or done[0] is not transaction:
        done = session.info["bumped"] = (transaction, set())
    if scope in done[1]:
        return
    done[1].add(scope)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(ChangeVersion).values(scope=scope, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ChangeVersion.scope], set_={"version": ChangeVersion.version + 1}
    )
    session.execute(stmt)
    session.info.setdefault("changed_scopes", set()).add(scope)


def read_all(session: Session) -> dict[str, int]:
    """Every scope's current version."""
    rows = session.execute(select(ChangeVersion.scope, ChangeVersion.version))
    return {str(scope): int(version) for scope, version in rows}


class ChangeWatcher:
    """Polls the change versions and tells listeners which scopes moved."""

    def __init__(self, db: Database, interval: float) -> None:
        self._db = db
        self._interval = interval
        self._seen: dict[str, int] = {}
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        # This process's own commits are seen at once, without waiting for the next poll.
        event.listen(db.write_sessions, "after_commit", self._after_commit)

    def _after_commit(self, session: Session) -> None:
        for scope in session.info.pop("changed_scopes", ()):
            self.notify_local(scope)

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def poll_once(self) -> list[str]:
        """Read the versions once; call listeners for each scope that changed; return them."""
        with self._db.session(write=False) as session:
            current = read_all(session)
        changed = [s for s, v in current.items() if self._seen.get(s) != v]
        first = not self._seen
        self._seen = current
        if not first:
            for scope in changed:
                for listener in self._listeners:
                    listener(scope, current[scope])
        return changed

    def notify_local(self, scope: str) -> None:
        """Tell listeners at once about a change this process just committed."""
        for listener in self._listeners:
            listener(scope, -1)

    async def _run(self) -> None:
        while True:
            try:
                await in_thread(self.poll_once)
            except Exception:
                log.exception("change poll failed")
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        try:
            self.poll_once()
        except Exception:  # the database may come up later; /readyz says so meanwhile
            log.exception("first change poll failed")
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, seconds: float = 5.0) -> None:
        """Stop polling; a poll under way is given `seconds` to end."""
        if self._task is not None:
            self._task.cancel()
            await ended_within([self._task], seconds, "change poll")
            self._task = None
