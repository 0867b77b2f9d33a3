"""What Slack asks of AvsB: ``/avsb`` slash commands, button clicks (``block_actions``) and
events (``url_verification``, ``app_mention``). Everything here runs after the request's
signature was verified.

Reading (``status``, ``results``, ``list running``) is open to anyone in the connected
workspace; ``pause`` and ``stop`` are for a Slack user linked to an AvsB user whose role in
the organisation grants ``experiments:write``, checked when asked and again on the click.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from avsb.server.auth.roles import scopes_for
from avsb.server.auth.scopes import grants
from avsb.server.config import Settings
from avsb.server.errors import AvsbError
from avsb.server.experiments import lifecycle
from avsb.server.experiments.schemas import StopBody
from avsb.server.kit.context import Actor, ChangeContext
from avsb.server.models import (
    Experiment,
    Membership,
    ResultsSnapshot,
    SlackInstallation,
    SlackLinkCode,
    User,
)
from avsb.server.models.base import utcnow
from avsb.server.slack import blocks, outbox, repository
from avsb.server.slack.blocks import ComparisonFacts, ExperimentFacts, ResultsFacts

Json = dict[str, Any]
LINK_MINUTES = 10
EVENT_MEMORY = timedelta(hours=1)
ACTIONS = {blocks.PAUSE_ACTION: "pause", blocks.STOP_ACTION: "stop"}


class Refusal(Exception):  # noqa: N818  # a refusal, not a fault
    """A command that cannot be done: its message goes back to the Slack user."""


@dataclass(frozen=True)
class Caller:
    """Who asked in Slack, in which organisation."""

    installation: SlackInstallation
    slack_user_id: str
    request_id: str | None = None


def ephemeral(content: Json) -> Json:
    return {"response_type": "ephemeral", **content}


def caller_of(session: Session, team_id: str, slack_user_id: str, request_id: str | None) -> Caller:
    installation = repository.installation_of_team(session, team_id)
    if installation is None:
        raise Refusal("This Slack workspace is not connected to an AvsB organisation.")
    return Caller(installation, slack_user_id, request_id)


def _facts(session: Session, experiments: Sequence[Experiment]) -> list[ExperimentFacts]:
    projects = repository.projects_by_id(session, sorted({e.project_id for e in experiments}))
    return [outbox.facts(e, projects[e.project_id].key) for e in experiments]


def results_facts(experiment: Experiment, snapshot: ResultsSnapshot | None) -> ResultsFacts | None:
    """The facts Slack shows of a stored results snapshot."""
    if snapshot is None:
        return None
    payload = snapshot.payload
    srm = payload.get("srm") or {}
    keys = [str(v["key"]) for v in experiment.variants]
    observed = [int(n) for n in srm.get("observed") or []]
    comparisons = tuple(
        ComparisonFacts(
            metric_key=str(metric.get("key", "")),
            role=str(metric.get("role", "")),
            variant=str(c.get("variant", "")),
            estimate=float(c.get("estimate") or 0.0),
            ci=outbox.interval(c.get("ci")),
            p_value=c.get("p_value"),
            significant=bool(c.get("significant")),
            difference_type=str(c.get("difference_type", "relative")),
        )
        for metric in payload.get("metrics") or []
        for c in metric.get("comparisons") or []
    )
    return ResultsFacts(
        computed_at=snapshot.computed_at.strftime("%Y-%m-%d %H:%M UTC"),
        srm_detected=bool(srm.get("srm_detected")),
        srm_p_value=srm.get("p_value"),
        units=dict(zip(keys, observed, strict=False)),
        comparisons=comparisons,
    )


def find_experiment(session: Session, org_id: str, name: str) -> Experiment:
    """The experiment named by ``key`` or ``project/key``; Refusal when none or ambiguous."""
    if not name:
        raise Refusal("Name an experiment: its key, or project/key.")
    if "/" in name:
        project_key, _, key = name.partition("/")
        project = repository.project_by_key(session, org_id, project_key)
        found = [
            e
            for e in repository.experiments_by_key(session, org_id, key)
            if project is not None and e.project_id == project.id
        ]
    else:
        found = list(repository.experiments_by_key(session, org_id, name))
    if not found:
        raise Refusal(f"No experiment {name!r} in this organisation.")
    if len(found) > 1:
        names = ", ".join(f"{f.project_key}/{f.key}" for f in _facts(session, found))
        raise Refusal(f"{name!r} names several experiments; say which: {names}.")
    return found[0]


def _linked_user(session: Session, caller: Caller) -> tuple[User, str]:
    """The AvsB user and role behind the Slack user; Refusal telling how to link otherwise."""
    org_id = caller.installation.org_id
    link = repository.link_of(session, caller.installation.team_id, caller.slack_user_id)
    user = session.get(User, link.user_id) if link is not None else None
    membership = session.get(Membership, (user.id, org_id)) if user is not None else None
    if user is None or membership is None or user.disabled or link is None:
        raise Refusal(
            "Your Slack user is not linked to an AvsB account of this organisation. "
            "Run `/avsb link` to link it."
        )
    return user, membership.role


def _may_change(session: Session, caller: Caller) -> User:
    user, role = _linked_user(session, caller)
    if not grants(scopes_for(role), "experiments:write"):
        raise Refusal(
            f"Your AvsB role ({role}) may not pause or stop experiments "
            "(it needs experiments:write)."
        )
    return user


def _latest(session: Session, experiment: Experiment) -> ResultsFacts | None:
    snapshot = repository.latest_snapshots(session, [experiment.id]).get(experiment.id)
    return results_facts(experiment, snapshot)


def _read(session: Session, caller: Caller, verb: str, rest: str) -> Json:
    org_id = caller.installation.org_id
    if verb in ("status", "results"):
        experiment = find_experiment(session, org_id, rest)
        (e,) = _facts(session, [experiment])
        latest = _latest(session, experiment)
        return blocks.status(e, latest) if verb == "status" else blocks.results(e, latest)
    if verb == "list":
        if rest not in ("running", ""):
            raise Refusal("Only `/avsb list running` is known.")
        return blocks.running_list(_facts(session, repository.running(session, org_id)))
    return blocks.help_message(None if verb in ("", "help") else f"Unknown command {verb!r}.")


def _link_code(session: Session, caller: Caller, settings: Settings) -> Json:
    code = secrets.token_urlsafe(16)
    session.add(
        SlackLinkCode(
            code_hash=hashlib.sha256(code.encode()).hexdigest(),
            org_id=caller.installation.org_id,
            team_id=caller.installation.team_id,
            slack_user_id=caller.slack_user_id,
            expires_at=utcnow() + timedelta(minutes=LINK_MINUTES),
        )
    )
    base = settings.public_url or ""
    url = f"{base}/api/orgs/{caller.installation.org_id}/slack/links"
    return blocks.link_instructions(code, LINK_MINUTES, url)


def command(
    session: Session, settings: Settings, form: dict[str, str], request_id: str | None
) -> Json:
    """The answer to one ``/avsb ...`` (always ephemeral: only the asker sees it)."""
    try:
        caller = caller_of(session, form.get("team_id", ""), form.get("user_id", ""), request_id)
        verb, _, rest = form.get("text", "").strip().partition(" ")
        verb, rest = verb.lower(), rest.strip()
        if verb == "link":
            return ephemeral(_link_code(session, caller, settings))
        if verb in ("pause", "stop"):
            _may_change(session, caller)
            experiment = find_experiment(session, caller.installation.org_id, rest)
            (e,) = _facts(session, [experiment])
            return ephemeral(blocks.confirm_action(verb, e))
        return ephemeral(_read(session, caller, verb, rest))
    except Refusal as refusal:
        return ephemeral(blocks.notice(str(refusal)))


def _act(session: Session, caller: Caller, action: str, experiment_id: str) -> Json:
    """Pause or stop through the experiments service, as the linked user (source ``slack``)."""
    user = _may_change(session, caller)
    org_id = caller.installation.org_id
    experiment = session.get(Experiment, experiment_id)
    if experiment is None or experiment.org_id != org_id:
        raise Refusal("That experiment no longer exists.")
    ctx = ChangeContext(
        org_id, Actor("user", user.id, user.email), "slack", None, caller.request_id
    )
    try:
        if action == "pause":
            lifecycle.pause(session, ctx, experiment)
        else:
            reason = f"Stopped from Slack by {user.email}"
            lifecycle.stop(session, ctx, experiment, StopBody(reason=reason))
    except AvsbError as exc:
        raise Refusal(exc.message) from exc
    (e,) = _facts(session, [experiment])
    return blocks.action_done(action, e, caller.slack_user_id)


def interaction(session: Session, payload: Json, request_id: str | None) -> None:
    """A button click: re-check the clicker, act, and tell the channel (or the clicker why
    not) through the outbox."""
    if payload.get("type") != "block_actions":
        return
    team_id = str((payload.get("team") or {}).get("id", ""))
    slack_user_id = str((payload.get("user") or {}).get("id", ""))
    channel = str((payload.get("channel") or {}).get("id", ""))
    actions = [a for a in payload.get("actions") or [] if a.get("action_id") in ACTIONS]
    installation = repository.installation_of_team(session, team_id)
    if installation is None or not actions or not channel:
        return
    caller = Caller(installation, slack_user_id, request_id)
    action = ACTIONS[actions[0]["action_id"]]
    org_id = installation.org_id
    savepoint = session.begin_nested()  # a refused action leaves nothing half-done
    try:
        done = _act(session, caller, action, str(actions[0].get("value", "")))
    except Refusal as refusal:
        savepoint.rollback()
        call = ("chat.postEphemeral", {"channel": channel, "user": slack_user_id,
                                       **blocks.notice(str(refusal))})  # fmt: skip
        outbox.enqueue(session, org_id, "refusal", call)
        return
    savepoint.commit()
    outbox.enqueue(session, org_id, f"experiment_{action}", outbox.post_message(channel, done))


def event(session: Session, body: Json, request_id: str | None) -> Json | None:
    """An Events API request: the ``url_verification`` challenge, or an ``event_callback``
    (``app_mention``: answered in the thread; ``app_uninstalled``: the installation goes)."""
    kind = body.get("type")
    if kind == "url_verification":
        return {"challenge": str(body.get("challenge", ""))}
    if kind != "event_callback":
        return None
    event_id = str(body.get("event_id", ""))
    # Slack retries an event it thinks was missed: act on each event id once.
    if event_id and not repository.remember_request(
        session, f"event:{event_id}"[:80], utcnow() + EVENT_MEMORY
    ):
        return None
    inner = body.get("event") or {}
    team_id = str(body.get("team_id", ""))
    installation = repository.installation_of_team(session, team_id)
    if installation is None:
        return None
    if inner.get("type") == "app_uninstalled":
        for link in repository.links_of_org(session, installation.org_id):
            session.delete(link)
        session.delete(installation)
        return None
    if inner.get("type") == "app_mention":
        _mention(session, installation, inner, request_id)
    return None


def _mention(
    session: Session, installation: SlackInstallation, inner: Json, request_id: str | None
) -> None:
    words = [w for w in str(inner.get("text", "")).split() if not w.startswith("<@")]
    verb, rest = (words[0].lower(), " ".join(words[1:])) if words else ("help", "")
    caller = Caller(installation, str(inner.get("user", "")), request_id)
    try:
        if verb in ("pause", "stop", "link"):
            raise Refusal(f"Use the slash command for that: `/avsb {verb} ...`.")
        content = _read(session, caller, verb, rest)
    except Refusal as refusal:
        content = blocks.notice(str(refusal))
    channel = str(inner.get("channel", ""))
    thread = inner.get("thread_ts") or inner.get("ts")
    extra = {"thread_ts": thread} if thread else {}
    call = outbox.post_message(channel, content, **extra)
    outbox.enqueue(session, installation.org_id, "mention_answer", call)
