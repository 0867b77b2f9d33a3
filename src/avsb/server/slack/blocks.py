"""Slack messages as Block Kit: pure functions from plain facts to ``{"text", "blocks"}``.

``text`` is the notification / screen-reader fallback Slack asks for next to ``blocks``
(https://docs.slack.dev/reference/methods/chat.postMessage). Everything shown that came from
users (names, keys, reasons) is escaped as Slack's ``mrkdwn`` requires (``&``, ``<``, ``>``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]

PAUSE_ACTION = "avsb_pause"
STOP_ACTION = "avsb_stop"
CANCEL_ACTION = "avsb_cancel"

HELP_LINES = (
    "`/avsb status <experiment>`: state, variants and latest results health",
    "`/avsb results <experiment>`: the latest computed results",
    "`/avsb list running`: running experiments",
    "`/avsb pause <experiment>` / `/avsb stop <experiment>`: with confirmation (linked users "
    "whose role may change experiments)",
    "`/avsb link`: link your Slack user to your AvsB account",
    "Name an experiment by key, or `project/key` when keys repeat across projects.",
)


@dataclass(frozen=True)
class ExperimentFacts:
    id: str
    key: str
    name: str
    project_key: str
    status: str
    variants: tuple[str, ...] = ()
    started_at: str | None = None
    decision: Json | None = None


@dataclass(frozen=True)
class ComparisonFacts:
    metric_key: str
    role: str
    variant: str
    estimate: float
    ci: tuple[float | None, float | None]
    p_value: float | None
    significant: bool
    difference_type: str = "relative"


@dataclass(frozen=True)
class ResultsFacts:
    computed_at: str
    srm_detected: bool
    srm_p_value: float | None
    units: dict[str, int] = field(default_factory=dict)
    comparisons: tuple[ComparisonFacts, ...] = ()


def escape(text: str) -> str:
    """``text`` safe inside ``mrkdwn`` (Slack's three control characters escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(markdown: str) -> Json:
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown}}


def _header(text: str) -> Json:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _context(markdown: str) -> Json:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": markdown}]}


def message(text: str, blocks: Sequence[Json]) -> Json:
    return {"text": text, "blocks": list(blocks)}


def _name(e: ExperimentFacts) -> str:
    return f"*{escape(e.name)}* (`{escape(e.project_key)}/{escape(e.key)}`)"


def help_message(intro: str | None = None) -> Json:
    lines = "\n".join(f"• {line}" for line in HELP_LINES)
    blocks = [_section(escape(intro))] if intro else []
    blocks.append(_section(f"*AvsB commands*\n{lines}"))
    return message(intro or "AvsB commands", blocks)


def notice(text: str) -> Json:
    """A plain one-section message (errors, refusals, confirmations)."""
    return message(text, [_section(escape(text))])


def link_instructions(code: str, expires_minutes: int, link_url: str) -> Json:
    text = (
        f"Your link code is {code} (valid {expires_minutes} minutes, once). While signed in "
        f"to AvsB, send it with POST {link_url}"
    )
    body = (
        f"*Link your Slack user to AvsB*\nYour one-time code: `{code}` "
        f"(valid {expires_minutes} minutes).\nWhile signed in to AvsB, send it:\n"
        f'```POST {escape(link_url)}\n{{"code": "{code}"}}```'
    )
    return message(text, [_section(body)])


def _fmt(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}g}"


def _effect(c: ComparisonFacts) -> str:
    scale = 100.0 if c.difference_type == "relative" else 1.0
    unit = "%" if c.difference_type == "relative" else ""
    low, high = c.ci
    ci = (
        "n/a"
        if low is None or high is None
        else f"[{low * scale:+.2f}{unit}, {high * scale:+.2f}{unit}]"
    )
    return f"{c.estimate * scale:+.2f}{unit} {ci}, p = {_fmt(c.p_value)}"


def status(e: ExperimentFacts, latest: ResultsFacts | None) -> Json:
    lines = [f"Status: *{e.status}*", f"Variants: {', '.join(escape(v) for v in e.variants)}"]
    if e.started_at:
        lines.append(f"Started: {e.started_at}")
    if latest is None:
        lines.append("Results: none computed yet")
    else:
        srm = "SRM detected :warning:" if latest.srm_detected else "no SRM"
        significant = sum(1 for c in latest.comparisons if c.significant)
        lines.append(
            f"Results of {latest.computed_at}: {srm}, {significant} significant comparison(s)"
        )
    if e.decision:
        lines.append(_decision_line(e.decision))
    text = f"{e.key}: {e.status}"
    return message(text, [_section(_name(e)), _section("\n".join(lines))])


def _decision_line(decision: Json) -> str:
    winner = decision.get("winner")
    reason = decision.get("reason") or ""
    shipped = f"ship *{escape(str(winner))}*" if winner else "no winner shipped"
    return f"Decision: {shipped}" + (f" ({escape(str(reason))})" if reason else "")


def results(e: ExperimentFacts, latest: ResultsFacts | None) -> Json:
    if latest is None:
        return message(
            f"{e.key}: no results yet",
            [_section(_name(e)), _section("No results have been computed for it yet.")],
        )
    units = ", ".join(f"{escape(k)}: {n}" for k, n in latest.units.items()) or "none"
    srm = f"SRM p = {_fmt(latest.srm_p_value)}" + (" :warning:" if latest.srm_detected else "")
    rows = [
        f"{'*' if c.significant else ''}{escape(c.metric_key)}{'*' if c.significant else ''}"
        f" ({c.role}) {escape(c.variant)}: {_effect(c)}"
        for c in latest.comparisons
    ]
    blocks = [
        _section(_name(e)),
        _section(f"Units: {units}\n{srm}"),
        _section("\n".join(rows) if rows else "No comparisons yet."),
        _context(f"Computed {latest.computed_at}; significant comparisons in bold"),
    ]
    return message(f"{e.key}: results of {latest.computed_at}", blocks)


def running_list(experiments: Sequence[ExperimentFacts]) -> Json:
    if not experiments:
        return notice("No experiment is running.")
    lines = [
        f"• {_name(e)}" + (f" since {e.started_at}" if e.started_at else "") for e in experiments
    ]
    return message(
        f"{len(experiments)} running experiment(s)",
        [_section("*Running experiments*\n" + "\n".join(lines))],
    )


def confirm_action(action: str, e: ExperimentFacts) -> Json:
    """The question before a pause / stop: a button guarded by a Block Kit ``confirm``."""
    verb = action.title()
    consequence = (
        "Assignment stops until it is started again."
        if action == "pause"
        else "This ends the experiment for good; its decision is recorded without a winner."
    )
    button = {
        "type": "button",
        "action_id": PAUSE_ACTION if action == "pause" else STOP_ACTION,
        "text": {"type": "plain_text", "text": f"{verb} experiment"},
        "style": "danger",
        "value": e.id,
        "confirm": {
            "title": {"type": "plain_text", "text": f"{verb} {e.key[:80]}?"},
            "text": {"type": "mrkdwn", "text": f"{verb} {_name(e)}? {consequence}"},
            "confirm": {"type": "plain_text", "text": verb},
            "deny": {"type": "plain_text", "text": "Cancel"},
            "style": "danger",
        },
    }
    cancel = {
        "type": "button",
        "action_id": CANCEL_ACTION,
        "text": {"type": "plain_text", "text": "Cancel"},
        "value": e.id,
    }
    return message(
        f"{verb} {e.key}?",
        [
            _section(f"{verb} {_name(e)}? It is *{e.status}*."),
            {"type": "actions", "block_id": "avsb_confirm", "elements": [button, cancel]},
        ],
    )


def action_done(action: str, e: ExperimentFacts, slack_user_id: str) -> Json:
    past = {"pause": "paused", "stop": "stopped"}[action]
    return message(
        f"{e.key} {past}",
        [_section(f":white_check_mark: {_name(e)} was {past} by <@{slack_user_id}>.")],
    )


# Notifications: one kind per domain event worth a message in the project's channel.
NOTIFICATION_KINDS = (
    "experiment_started",
    "experiment_stopped",
    "srm_detected",
    "primary_significant",
    "guardrail_harmed",
    "decision_ready",
)


def experiment_started(e: ExperimentFacts) -> Json:
    variants = ", ".join(escape(v) for v in e.variants)
    return message(
        f"Experiment {e.key} started",
        [
            _header(f":rocket: Experiment started: {e.name}"),
            _section(f"{_name(e)} is now running with variants {variants}."),
        ],
    )


def experiment_stopped(e: ExperimentFacts) -> Json:
    lines = [f"{_name(e)} has stopped."]
    if e.decision:
        lines.append(_decision_line(e.decision))
        actor = e.decision.get("actor_name")
        if actor:
            lines.append(f"Decided by {escape(str(actor))}.")
    return message(
        f"Experiment {e.key} stopped",
        [_header(f":checkered_flag: Experiment stopped: {e.name}"), _section("\n".join(lines))],
    )


def srm_detected(e: ExperimentFacts, p_value: float | None, observed: Sequence[int]) -> Json:
    counts = ", ".join(f"{escape(v)}: {n}" for v, n in zip(e.variants, observed, strict=False))
    return message(
        f"Sample ratio mismatch in {e.key}",
        [
            _header(f":warning: Sample ratio mismatch: {e.name}"),
            _section(
                f"{_name(e)}: the units per variant ({counts}) are unlikely under the planned "
                f"split (p = {_fmt(p_value)}). Results are not trustworthy until the cause "
                "is found."
            ),
        ],
    )


def _comparison_lines(comparisons: Sequence[ComparisonFacts]) -> str:
    return "\n".join(
        f"• *{escape(c.metric_key)}* {escape(c.variant)}: {_effect(c)}" for c in comparisons
    )


def primary_significant(e: ExperimentFacts, comparisons: Sequence[ComparisonFacts]) -> Json:
    return message(
        f"Primary metric significant in {e.key}",
        [
            _header(f":bar_chart: Primary metric significant: {e.name}"),
            _section(f"{_name(e)}\n{_comparison_lines(comparisons)}"),
        ],
    )


def guardrail_harmed(e: ExperimentFacts, comparisons: Sequence[ComparisonFacts]) -> Json:
    return message(
        f"Guardrail harmed in {e.key}",
        [
            _header(f":rotating_light: Guardrail harmed: {e.name}"),
            _section(
                f"{_name(e)}: a guardrail metric moved significantly the wrong way.\n"
                f"{_comparison_lines(comparisons)}"
            ),
        ],
    )


def decision_ready(
    e: ExperimentFacts, verdict: str, variant: str | None, reasons: Sequence[tuple[str, str]]
) -> Json:
    """The decision readout turned from keep running to ship / do not ship."""
    said = f"ship *{escape(variant or '')}*" if verdict == "ship" else "do not ship"
    why = "\n".join(f"• `{code}`: {escape(text)}" for code, text in reasons)
    return message(
        f"Decision ready for {e.key}: {verdict}",
        [
            _header(f":white_check_mark: Decision ready: {e.name}"),
            _section(f"{_name(e)}: the results say {said}." + (f"\n{why}" if why else "")),
            _context("Stop the experiment to record the decision: `/avsb stop` or the API"),
        ],
    )


def digest(project_name: str, rows: Sequence[tuple[ExperimentFacts, ResultsFacts | None]]) -> Json:
    """The weekly digest of one project: each running experiment and its latest results."""
    blocks: list[Json] = [_header(f":calendar: Weekly experiments digest: {project_name}")]
    if not rows:
        blocks.append(_section("No experiment is running in this project."))
    for e, latest in rows:
        if latest is None:
            summary = "no results computed yet"
        else:
            total = sum(latest.units.values())
            significant = sum(1 for c in latest.comparisons if c.significant)
            srm = ", SRM detected :warning:" if latest.srm_detected else ""
            summary = f"{total} units, {significant} significant comparison(s){srm}"
        since = f", running since {e.started_at}" if e.started_at else ""
        blocks.append(_section(f"{_name(e)}{since}\n{summary}"))
    return message(f"Weekly digest: {len(rows)} running experiment(s) in {project_name}", blocks)
