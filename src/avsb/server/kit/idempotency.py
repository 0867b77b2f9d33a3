"""``Idempotency-Key``: stored in the database so it holds across processes and restarts.

A key is first *reserved* in its own short transaction (the primary key makes that race-free:
of N concurrent requests exactly one inserts the row and runs). The answer is stored in the same
transaction as the change it describes, so a crash can never leave a change without its answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.db import Database
from avsb.server.errors import IdempotencyConflict, IdempotencyInProgress
from avsb.server.models import IdempotencyRecord
from avsb.server.models.base import utcnow

MAX_KEY_LENGTH = 255
_KEPT_HEADERS = ("content-type", "etag", "location", "link")


@dataclass(frozen=True)
class Reservation:
    token_id: str
    key: str


class IdempotentReplay(Exception):  # noqa: N818 - a control-flow signal, not an error
    """The stored answer of an earlier request with the same key; sent back as it was."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.status_code = record.status_code or 200
        self.body = record.response_body or b""
        self.headers = dict(record.response_headers or {})

    def response(self) -> Response:
        headers = {**self.headers, "Idempotent-Replayed": "true"}
        return Response(self.body, status_code=self.status_code, headers=headers)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What must match for a replay: method, path with query, and the exact body."""
    digest = hashlib.sha256()
    for part in (method.encode(), b"\n", path.encode(), b"\n", body):
        digest.update(part)
    return digest.hexdigest()


@dataclass(frozen=True)
class KeyPolicy:
    ttl: timedelta
    lock: timedelta


def reserve(db: Database, reservation: Reservation, fp: str, policy: KeyPolicy) -> None:
    """Claim the key, or raise: ``IdempotentReplay``, 409 conflict or 409 in progress."""
    for _ in range(3):
        with db.transaction() as session:
            now = utcnow()
            record = session.get(IdempotencyRecord, (reservation.token_id, reservation.key))
            if record is not None and record.expires_at <= now:
                session.delete(record)
                session.flush()
                record = None
            if record is None:
                try:
                    with session.begin_nested():
                        session.add(
                            IdempotencyRecord(
                                token_id=reservation.token_id,
                                key=reservation.key,
                                fingerprint=fp,
                                state="in_progress",
                                locked_until=now + policy.lock,
                                expires_at=now + policy.ttl,
                            )
                        )
                    return
                except IntegrityError:
                    continue  # another request reserved it first: look again
            _check_existing(record, fp, now, policy)
            return
    raise IdempotencyInProgress("A request with this Idempotency-Key is still being processed.")


def _check_existing(record: IdempotencyRecord, fp: str, now: object, policy: KeyPolicy) -> None:
    if record.fingerprint != fp:
        raise IdempotencyConflict(
            "This Idempotency-Key was used with a different request body, method or path."
        )
    if record.state == "completed":
        raise IdempotentReplay(record)
    if record.locked_until > now:  # type: ignore[operator]
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still being processed.",
            headers={"Retry-After": "1"},
        )
    # The holder died without finishing (its lock ran out): this request takes the key over.
    record.locked_until = utcnow() + policy.lock


def complete(session: Session, reservation: Reservation, response: Response) -> None:
    """Store the answer in ``session``'s transaction (committed with the change itself)."""
    record = session.get(IdempotencyRecord, (reservation.token_id, reservation.key))
    if record is None:
        return
    record.state = "completed"
    record.status_code = response.status_code
    record.response_body = bytes(response.body)
    record.response_headers = {
        k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS
    }


def release(db: Database, reservation: Reservation) -> None:
    """Forget a reservation whose request failed with a 5xx, so a retry runs again."""
    with db.transaction() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.token_id == reservation.token_id,
                IdempotencyRecord.key == reservation.key,
                IdempotencyRecord.state == "in_progress",
            )
        )


def purge_expired(db: Database) -> int:
    """Delete records past their 24 h life; return how many."""
    with db.transaction() as session:
        result = session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)
