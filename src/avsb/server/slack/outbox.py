"""The Slack outbox: Web API calls written in the caller's transaction, posted by the worker.

``notify`` is called with every domain event the webhooks get (``webhooks.service.emit``): a
rolled-back change posts nothing, a committed one is posted at least once. Only events of a
project with a channel, in an organisation connected to Slack, become messages.
``decision_ready`` is called by the results routes with the decision readout they computed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from avsb.server.db import Database
from avsb.server.kit.ids import new_id
from avsb.server.models import Experiment, Metric, Project, SlackChannel, SlackMessage
from avsb.server.models.base import utcnow
from avsb.server.slack import blocks, repository
from avsb.server.slack.blocks import ComparisonFacts, ExperimentFacts
from avsb.stats.decision import Decision

Json = dict[str, Any]


def enqueue(
    session: Session,
    org_id: str,
    kind: str,
    call: tuple[str, Json],
    project_id: str | None = None,
) -> SlackMessage:
    """A pending Web API call ``(method, arguments)``, due now."""
    method, args = call
    message = SlackMessage(
        id=new_id("slm"),
        org_id=org_id,
        project_id=project_id,
        kind=kind,
        channel_id=str(args.get("channel", "")),
        payload=orjson.dumps({"method": method, "args": args}).decode(),
        status="pending",
        attempt_count=0,
        next_attempt_at=utcnow(),
    )
    session.add(message)
    session.flush()
    return message


def once_id(key: str) -> str:
    """The message id of the message queued once per ``key``."""
    return "slm_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def enqueue_once(
    session: Session, key: str, org_id: str, kind: str, call: tuple[str, Json], project_id: str
) -> bool:
    """As ``enqueue``, at most once per ``key`` across processes (its id derives from the key);
    False when it was queued already."""
    message_id = once_id(key)
    if repository.message_exists(session, message_id):
        return False
    try:
        with session.begin_nested():
            message = enqueue(session, org_id, kind, call, project_id)
            message.id = message_id
    except IntegrityError:
        return False
    return True


def post_message(channel: str, content: Json, **extra: Any) -> tuple[str, Json]:
    return "chat.postMessage", {"channel": channel, **content, **extra}


def facts(experiment: Experiment, project_key: str) -> ExperimentFacts:
    started = experiment.started_at
    return ExperimentFacts(
        id=experiment.id,
        key=experiment.key,
        name=experiment.name,
        project_key=project_key,
        status=experiment.status,
        variants=tuple(str(v["key"]) for v in experiment.variants),
        started_at=started.strftime("%Y-%m-%d %H:%M UTC") if started else None,
        decision=experiment.decision,
    )


def _harmed(comparison: Json, lower_is_better: bool) -> bool:
    estimate = float(comparison.get("estimate") or 0.0)
    return estimate > 0 if lower_is_better else estimate < 0


def interval(ci: object) -> tuple[float | None, float | None]:
    """A stored ``[low, high]`` confidence interval (either end may be null)."""
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None, None
    low, high = ci
    return (
        float(low) if isinstance(low, int | float) else None,
        float(high) if isinstance(high, int | float) else None,
    )


def _comparison(c: Json) -> ComparisonFacts:
    return ComparisonFacts(
        metric_key=str(c.get("metric_key", "")),
        role=str(c.get("role", "")),
        variant=str(c.get("variant", "")),
        estimate=float(c.get("estimate") or 0.0),
        ci=interval(c.get("ci")),
        p_value=c.get("p_value"),
        significant=bool(c.get("significant")),
        difference_type=str(c.get("difference_type", "relative")),
    )


def _significance(session: Session, e: ExperimentFacts, data: Json) -> list[tuple[str, Json]]:
    """``results.significant``: a primary metric significant, a guardrail harmed, or both."""
    found = data.get("comparisons") or []
    primary = [_comparison(c) for c in found if c.get("role") == "primary"]
    guardrails = [c for c in found if c.get("role") == "guardrail"]
    harmed = []
    for c in guardrails:
        metric = session.get(Metric, c.get("metric_id"))
        if _harmed(c, bool(metric is not None and metric.lower_is_better)):
            harmed.append(_comparison(c))
    out = []
    if primary:
        out.append(("primary_significant", blocks.primary_significant(e, primary)))
    if harmed:
        out.append(("guardrail_harmed", blocks.guardrail_harmed(e, harmed)))
    return out


def _messages(
    session: Session, event_type: str, data: Json, experiment: Experiment, project: Project
) -> list[tuple[str, Json]]:
    e = facts(experiment, project.key)
    if event_type == "experiment.started":
        return [("experiment_started", blocks.experiment_started(e))]
    if event_type == "experiment.stopped":
        return [("experiment_stopped", blocks.experiment_stopped(e))]
    if event_type == "srm.detected":
        srm = data.get("srm") or {}
        observed = [int(n) for n in srm.get("observed") or []]
        return [("srm_detected", blocks.srm_detected(e, srm.get("p_value"), observed))]
    if event_type == "results.significant":
        return _significance(session, e, data)
    return []


_EXPERIMENT_EVENTS = frozenset(
    {"experiment.started", "experiment.stopped", "srm.detected", "results.significant"}
)


def notify(
    session: Session, org_id: str, event_type: str, data: Json, project_id: str | None
) -> None:
    """Queue the Slack notifications of one domain event (none for most events)."""
    if event_type not in _EXPERIMENT_EVENTS or project_id is None:
        return
    channel = session.get(SlackChannel, project_id)
    if channel is None or repository.installation_of_org(session, org_id) is None:
        return
    experiment_id = data.get("experiment_id") or data.get("id")
    experiment = session.get(Experiment, experiment_id) if experiment_id else None
    project = session.get(Project, project_id)
    if experiment is None or project is None:
        return
    for kind, content in _messages(session, event_type, data, experiment, project):
        enqueue(session, org_id, kind, post_message(channel.channel_id, content), project_id)


def decision_ready(
    db: Database, org_id: str, experiment_id: str, readout: Callable[[], Decision]
) -> bool:
    """Post "decision ready" once per experiment and verdict, when the results of a running
    experiment first say ship or do not ship (``avsb.stats.decide``); ``readout`` is only
    called for a running experiment of a project with a channel. True when queued."""
    with db.session(write=False) as session:
        experiment = session.get(Experiment, experiment_id)
        if experiment is None or experiment.org_id != org_id or experiment.status != "running":
            return False
        channel = session.get(SlackChannel, experiment.project_id)
        if channel is None or repository.installation_of_org(session, org_id) is None:
            return False
        verdict = readout()
        key = f"decision:{experiment_id}:{verdict.decision}:{verdict.variant}"
        # Look before taking a write transaction: on SQLite that is the database-wide lock.
        if verdict.decision == "keep_running" or repository.message_exists(session, once_id(key)):
            return False
    with db.transaction() as session:
        experiment = session.get(Experiment, experiment_id)
        project = session.get(Project, experiment.project_id) if experiment else None
        channel = session.get(SlackChannel, project.id) if project else None
        if experiment is None or project is None or channel is None:
            return False
        reasons = tuple((r.code, r.message) for r in verdict.reasons)
        content = blocks.decision_ready(
            facts(experiment, project.key), verdict.decision, verdict.variant, reasons
        )
        call = post_message(channel.channel_id, content)
        return enqueue_once(session, key, org_id, "decision_ready", call, project.id)
