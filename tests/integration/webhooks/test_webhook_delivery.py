"""Delivery end to end: a real receiver on loopback, servers on a private database."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from avsb.server.models import WebhookDelivery
from avsb.server.models.base import utcnow
from avsb.server.webhooks import service as webhook_service
from tests.support.servers import ApiClient, LiveServer, new_org_client

from .conftest import HookEnv, hook_env_at
from .receiver import Receiver, verify_signature, wait_until


def _create(api: ApiClient, url: str, **overrides: Any) -> dict[str, Any]:
    body = {"url": url, "event_types": ["*"], **overrides}
    response = api.post(api.org("/webhooks"), json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _deliveries(api: ApiClient, webhook_id: str, **params: str) -> list[dict[str, Any]]:
    response = api.get(api.org(f"/webhooks/{webhook_id}/deliveries"), params=params)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _wait_status(api: ApiClient, webhook_id: str, status: str) -> dict[str, Any]:
    wait_until(lambda: any(d["status"] == status for d in _deliveries(api, webhook_id)))
    return next(d for d in _deliveries(api, webhook_id) if d["status"] == status)


def _emit(env: HookEnv, org_id: str, event_type: str, project_id: str | None = None) -> None:
    with env.db.transaction() as session:
        data = {"experiment_id": "exp_1", "at": utcnow()}
        webhook_service.emit(session, org_id, event_type, data, project_id)


class TestSignedDelivery:
    def test_test_endpoint__500_then_retry__same_id_verified(self, hook_server: LiveServer) -> None:
        with Receiver([500, 200]) as receiver, new_org_client(hook_server) as api:
            hook = _create(api, receiver.url())

            tested = api.post(api.org(f"/webhooks/{hook['id']}/test"))

            assert tested.status_code == 200, tested.text
            result = tested.json()["data"]
            assert result["success"] is False
            assert result["attempt"]["status_code"] == 500
            assert result["attempt"]["response_excerpt"] == "status 500"
            first, second = receiver.wait_for(2)
            assert first.headers["webhook-id"] == second.headers["webhook-id"]
            assert first.headers["webhook-id"] == result["delivery"]["id"]
            assert verify_signature(hook["secret"], first)
            assert verify_signature(hook["secret"], second)
            assert not verify_signature("whsec_" + "A" * 44, second)
            payload = json.loads(second.body)
            assert payload["type"] == "webhook.test"
            assert payload["data"]["webhook_id"] == hook["id"]
            assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None
            delivered = _wait_status(api, hook["id"], "delivered")
            assert [a["status_code"] for a in delivered["attempts"]] == [500, 200]
            assert [a["number"] for a in delivered["attempts"]] == [1, 2]
            assert all(a["duration_ms"] >= 0 for a in delivered["attempts"])
            assert delivered["delivered_at"] is not None
            assert delivered["next_attempt_at"] is None

    def test_test_endpoint__success__answers_attempt(self, hook_server: LiveServer) -> None:
        with Receiver([204]) as receiver, new_org_client(hook_server) as api:
            hook = _create(api, receiver.url())
            result = api.post(api.org(f"/webhooks/{hook['id']}/test")).json()["data"]
            assert result["success"] is True
            assert result["delivery"]["status"] == "delivered"
            assert result["attempt"]["status_code"] == 204

    def test_rotated_secret__signs_later_deliveries(self, hook_server: LiveServer) -> None:
        with Receiver([200]) as receiver, new_org_client(hook_server) as api:
            hook = _create(api, receiver.url())
            path = api.org(f"/webhooks/{hook['id']}")
            new_secret = api.post(path + "/rotate-secret").json()["data"]["secret"]
            api.post(path + "/test")
            (received,) = receiver.wait_for(1)
            assert verify_signature(new_secret, received)
            assert not verify_signature(hook["secret"], received)


class TestOutbox:
    def test_emit__committed__delivered_signed(
        self, hook_env: HookEnv, hook_server: LiveServer
    ) -> None:
        with Receiver([200]) as receiver, new_org_client(hook_server) as api:
            hook = _create(api, receiver.url(), event_types=["experiment.started"])
            _emit(hook_env, api.org_id, "experiment.started")
            (received,) = receiver.wait_for(1)
            assert verify_signature(hook["secret"], received)
            body = json.loads(received.body)
            assert body["type"] == "experiment.started"
            assert body["data"]["experiment_id"] == "exp_1"
            assert received.headers["content-type"] == "application/json"

    def test_emit__rolled_back__nothing_sent(
        self, hook_env: HookEnv, hook_server: LiveServer
    ) -> None:
        with Receiver([200]) as receiver, new_org_client(hook_server) as api:
            hook = _create(api, receiver.url(), event_types=["experiment.paused", "flag.deleted"])
            session = hook_env.db.session(write=True)
            try:
                webhook_service.emit(session, api.org_id, "experiment.paused", {"n": 1})
                pending = select(func.count()).where(WebhookDelivery.webhook_id == hook["id"])
                assert session.scalar(pending) == 1
            finally:
                session.rollback()
                session.close()
            # A committed event after the rolled-back one: once it arrives, the worker has
            # long had the chance to send the first, had it existed.
            _emit(hook_env, api.org_id, "flag.deleted")
            received = receiver.wait_for(1)
            assert [json.loads(r.body)["type"] for r in received] == ["flag.deleted"]
            assert [d["event_type"] for d in _deliveries(api, hook["id"])] == ["flag.deleted"]

    def test_emit__matches_event_type_project_and_enabled(
        self, hook_env: HookEnv, hook_server: LiveServer
    ) -> None:
        with Receiver([200]) as receiver, new_org_client(hook_server) as api:
            p1 = api.post(api.org("/projects"), json={"key": "p1", "name": "P1"}).json()["data"]
            p2 = api.post(api.org("/projects"), json={"key": "p2", "name": "P2"}).json()["data"]
            org_wide = _create(api, receiver.url("/org"), event_types=["flag.created"])
            in_p1 = _create(api, receiver.url("/p1"), project_id=p1["id"])
            in_p2 = _create(api, receiver.url("/p2"), project_id=p2["id"])
            off = _create(api, receiver.url("/off"), enabled=False)

            _emit(hook_env, api.org_id, "flag.created", p1["id"])
            _emit(hook_env, api.org_id, "experiment.started", p1["id"])
            _emit(hook_env, api.org_id, "experiment.stopped")
            _emit(hook_env, api.org_id, "srm.detected", p2["id"])

            counts = {
                h["id"]: len(_deliveries(api, h["id"])) for h in (org_wide, in_p1, in_p2, off)
            }
            assert counts == {org_wide["id"]: 1, in_p1["id"]: 2, in_p2["id"]: 1, off["id"]: 0}
            received = receiver.wait_for(4)
            assert sorted(r.path for r in received) == ["/org", "/p1", "/p1", "/p2"]

    def test_emit__unknown_event_type__value_error(self, hook_env: HookEnv) -> None:
        with (
            hook_env.db.transaction() as session,
            pytest.raises(ValueError, match=r"experiment\.exploded"),
        ):
            webhook_service.emit(session, "org_x", "experiment.exploded", {})


class TestRetries:
    def test_schedule_exhausted__failed__manual_retry_delivers(
        self, hook_server: LiveServer
    ) -> None:
        with Receiver([500, 503, 500, 200]) as receiver, new_org_client(hook_server) as api:
            hook = _create(api, receiver.url())
            api.post(api.org(f"/webhooks/{hook['id']}/test"))
            failed = _wait_status(api, hook["id"], "failed")
            assert [a["status_code"] for a in failed["attempts"]] == [500, 503, 500]
            assert failed["last_status_code"] == 500
            assert _deliveries(api, hook["id"], status="failed")[0]["id"] == failed["id"]
            assert _deliveries(api, hook["id"], status="delivered") == []
            path = api.org(f"/webhooks/{hook['id']}/deliveries/{failed['id']}")

            retried = api.post(path + "/retry")

            assert retried.status_code == 200, retried.text
            assert retried.json()["data"]["status"] == "pending"
            delivered = _wait_status(api, hook["id"], "delivered")
            assert [a["status_code"] for a in delivered["attempts"]] == [500, 503, 500, 200]
            ids = {r.headers["webhook-id"] for r in receiver.wait_for(4)}
            assert ids == {failed["id"]}
            again = api.post(path + "/retry")
            assert again.status_code == 409
            assert again.json()["error"]["code"] == "invalid_transition"
            assert api.get(path).json()["data"]["status"] == "delivered"

    def test_unreachable_receiver__attempt_records_error(self, hook_server: LiveServer) -> None:
        with Receiver() as receiver:
            dead_url = receiver.url()
        with new_org_client(hook_server) as api:
            hook = _create(api, dead_url)
            result = api.post(api.org(f"/webhooks/{hook['id']}/test")).json()["data"]
            assert result["success"] is False
            assert result["attempt"]["status_code"] is None
            assert result["attempt"]["error"]
            assert result["delivery"]["status"] == "pending"
            api.delete(api.org(f"/webhooks/{hook['id']}"))

    def test_gone_410__subscription_disabled(
        self, hook_env: HookEnv, hook_server: LiveServer
    ) -> None:
        with Receiver([410]) as receiver, new_org_client(hook_server) as api:
            hook = _create(api, receiver.url(), event_types=["flag.updated"])
            _emit(hook_env, api.org_id, "flag.updated")
            failed = _wait_status(api, hook["id"], "failed")
            got = api.get(api.org(f"/webhooks/{hook['id']}")).json()["data"]
            audit = api.get(api.org("/audit"), params={"action": "webhook.disabled"}).json()
            _emit(hook_env, api.org_id, "flag.updated")

            assert [a["status_code"] for a in failed["attempts"]] == [410]
            assert got["enabled"] is False
            assert "410" in got["disabled_reason"]
            assert [e["actor_type"] for e in audit["data"]] == ["system"]
            assert len(_deliveries(api, hook["id"])) == 1
            assert len(receiver.received) == 1


class TestRestart:
    def test_due_retry__delivered_by_next_server(self, tmp_path: Path) -> None:
        with hook_env_at(tmp_path) as env, Receiver([500, 200]) as receiver:
            first = env.start(webhook_retry_schedule_seconds=[3.0])
            with new_org_client(first) as api:
                hook = _create(api, receiver.url())
                org_id = api.org_id
            _emit(env, org_id, "experiment.archived")
            receiver.wait_for(1)
            wait_until(lambda: _stored(env)[0].attempt_count == 1, what="first attempt stored")
            first.stop()
            assert len(receiver.received) == 1
            assert _stored(env)[0].status == "pending"

            second = env.start(webhook_retry_schedule_seconds=[3.0])

            first_try, retry = receiver.wait_for(2)
            assert first_try.headers["webhook-id"] == retry.headers["webhook-id"]
            assert verify_signature(hook["secret"], retry)
            wait_until(lambda: _stored(env)[0].status == "delivered", what="delivered")
            second.stop()

    def test_expired_lease__reclaimed(self, tmp_path: Path) -> None:
        with hook_env_at(tmp_path) as env, Receiver([200]) as receiver:
            server = env.start()
            with new_org_client(server) as api:
                _create(api, receiver.url(), event_types=["experiment.started"])
                org_id = api.org_id
            server.stop()
            _emit(env, org_id, "experiment.started")
            # As if a worker claimed it and died mid-attempt: a lease that has run out.
            with env.db.transaction() as session:
                session.execute(
                    update(WebhookDelivery).values(
                        status="delivering", locked_until=utcnow(), claim_token="dead-worker"
                    )
                )

            env.start()

            receiver.wait_for(1)
            wait_until(lambda: _stored(env)[0].status == "delivered", what="delivered")


def _stored(env: HookEnv) -> list[WebhookDelivery]:
    with env.db.session(write=False) as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


class TestConcurrentWorkers:
    def test_two_processes__each_delivery_sent_once(self, tmp_path: Path) -> None:
        env_vars = {
            "AVSB_WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
            "AVSB_WEBHOOK_POLL_SECONDS": "0.05",
            "AVSB_WEBHOOK_BATCH_SIZE": "3",
            "AVSB_WEBHOOK_RETRY_SCHEDULE_SECONDS": "[0.3]",
        }
        with (
            hook_env_at(tmp_path) as env,
            Receiver([200]) as receiver,
            env.factory.process(**env_vars),
        ):
            server = env.start(webhook_batch_size=3, webhook_poll_seconds=0.05)
            with new_org_client(server) as api:
                _create(api, receiver.url(), event_types=["results.significant"])
                org_id = api.org_id
            with env.db.transaction() as session:
                for n in range(40):
                    webhook_service.emit(session, org_id, "results.significant", {"n": n})

            received = receiver.wait_for(40, timeout=30)
            wait_until(lambda: all(d.status == "delivered" for d in _stored(env)), 30, "all sent")

            assert len(receiver.received) == 40
            assert len({r.headers["webhook-id"] for r in received}) == 40
            assert sorted(json.loads(r.body)["data"]["n"] for r in received) == list(range(40))
