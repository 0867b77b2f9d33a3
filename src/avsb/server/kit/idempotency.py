"""``Idempotency-Key``: stored in the database so it holds across processes and restarts.

A key is first *reserved* in its own short transaction (the primary key makes that race-free:
of N concurrent requests exactly one inserts the row and runs). The answer is stored in the same
transaction as the change it describes, so a crash can never leave a change without its answer.

Only successful answers are stored: an error changed nothing (its transaction rolled back), so
the corrected request may reuse the key. An answer that carries a secret (a new token, a
webhook's signing secret) is never stored: its record keeps only the new resource's id, and a
replay answers 409 ``idempotency_secret_withheld`` naming it (docs/security.md).
"""

from __future__ import annotations

import hashlib
import re
import typing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from pydantic import BaseModel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.db import Database
from avsb.server.errors import (
    BadRequest,
    IdempotencyConflict,
    IdempotencyInProgress,
    IdempotencySecretWithheld,
)
from avsb.server.models import IdempotencyRecord
from avsb.server.models.base import utcnow

MAX_KEY_LENGTH = 255
_KEPT_HEADERS = ("content-type", "etag", "location", "link")
_KEY = re.compile(r"[\x21-\x7e]{1,255}")
WITHHELD = "withheld"

SECRET_FIELD: dict[str, Any] = {"x-avsb-secret": True}
"""``json_schema_extra`` of a response field holding a secret shown once (never stored)."""


def check_key(key: str) -> None:
    """400 ``invalid_idempotency_key`` unless ``key`` is 1-255 visible ASCII characters (no
    space, tab or other control character: the same rule for every character class)."""
    if not _KEY.fullmatch(key):
        raise BadRequest(
            "Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces or control "
            "characters).",
            code="invalid_idempotency_key",
        )


def carries_secret(model: Any, _seen: frozenset[type] = frozenset()) -> bool:
    """True when the response model ``model`` (or a model inside it) has a ``SECRET_FIELD``."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        if model in _seen:
            return False
        seen = _seen | {model}
        for field in model.model_fields.values():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and extra.get("x-avsb-secret"):
                return True
            if carries_secret(field.annotation, seen):
                return True
        return False
    return any(carries_secret(arg, _seen) for arg in typing.get_args(model))


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


def canonical_body(body: bytes) -> bytes:
    """A JSON body with sorted keys and no insignificant whitespace (the same request however
    it is spelled); any other body as it is."""
    if not body:
        return body
    try:
        return orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        return body


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What must match for a replay: method, path with query, and the body's meaning."""
    digest = hashlib.sha256()
    for part in (method.encode(), b"\n", path.encode(), b"\n", canonical_body(body)):
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
    if record.state == WITHHELD:
        raise IdempotencySecretWithheld(
            "The request with this Idempotency-Key succeeded, but its answer held a secret, "
            "which is never stored and cannot be shown again; rotate the resource named in "
            "details.resource_id for a new one.",
            details=orjson.loads(record.response_body or b"{}"),
        )
    if record.locked_until > now:  # type: ignore[operator]
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still being processed.",
            headers={"Retry-After": "1"},
        )
    # The holder died without finishing (its lock ran out): this request takes the key over.
    record.locked_until = utcnow() + policy.lock


def _resource_id(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body).get("data")
    except (orjson.JSONDecodeError, AttributeError):
        return {}
    return {"resource_id": data.get("id")} if isinstance(data, dict) else {}


def complete(
    session: Session, reservation: Reservation, response: Response, *, secret: bool = False
) -> None:
    """Store the answer in ``session``'s transaction (committed with the change itself).

    ``secret``: the answer carries a secret; only the new resource's id is kept.
    """
    record = session.get(IdempotencyRecord, (reservation.token_id, reservation.key))
    if record is None:
        return
    record.status_code = response.status_code
    record.response_headers = {
        k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS
    }
    if secret:
        record.state = WITHHELD
        record.response_body = orjson.dumps(_resource_id(bytes(response.body)))
    else:
        record.state = "completed"
        record.response_body = bytes(response.body)


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
