"""What a workspace document must satisfy beyond its schema, checked without a database.

The rules of one resource are the services' own checks (variants, analysis, metric
definitions, flag values and bindings, rule trees, segment bodies, template designs, webhook
URLs), run on the document's data; what only a whole document can say is checked here:
duplicate keys and salts, references by key, lifecycle facts and the buckets of each layer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from avsb.server.audiences import conditions
from avsb.server.experiments import service as experiment_service
from avsb.server.flags import service as flag_service
from avsb.server.metrics import service as metric_service
from avsb.server.segments import service as segment_service
from avsb.server.templates import service as template_service
from avsb.server.webhooks import service as webhook_service
from avsb.server.workspace import group_ids
from avsb.server.workspace.parsing import Item, Parsed, ProjectPart
from avsb.server.workspace.problems import Problems, dotted, join
from avsb_sdk.evaluation.errors import AllocationError
from avsb_sdk.evaluation.hashing import BUCKETS, percent_to_buckets
from avsb_sdk.evaluation.layers import allocated_buckets, free_ranges

Keys = Mapping[str, set[str]]
_KIND = {
    "exclusion_group": "exclusion_groups",
    "audience": "audiences",
    "experiment": "experiments",
    "rollout_flag": "flags",
}
_KEYED = (
    "exclusion_groups",
    "segments",
    "audiences",
    "metrics",
    "experiments",
    "flags",
    "templates",
)


class _Project:
    """The checks of one project: its parsed part, its known keys and where problems go."""

    def __init__(self, part: ProjectPart, problems: Problems) -> None:
        self.part = part
        self.problems = problems
        self.keys: Keys = part.keys

    def items(self, kind: str) -> list[Item]:
        return self.part.items[kind]

    def ref(self, path: str, field: str, key: str | None) -> None:
        """A problem unless ``key`` (when given) names a resource of the project."""
        kind = _KIND[field]
        if key is not None and key not in self.keys[kind]:
            message = f"No {field.replace('_', ' ')} with key {key!r} in this project."
            self.problems.add(join(path, field), "unknown_reference", message)

    def metrics(self, path: str, roles: Mapping[str, list[str]]) -> None:
        seen: set[str] = set()
        for role, keys in roles.items():
            for i, key in enumerate(keys):
                where = join(path, "metrics", role, i)
                if key in seen:
                    self.problems.add(where, "duplicate_key", f"Metric {key!r} is listed twice.")
                elif key not in self.keys["metrics"]:
                    message = f"No metric with key {key!r} in this project."
                    self.problems.add(where, "unknown_reference", message)
                seen.add(key)

    def tree(self, path: str, field: str, tree: object) -> None:
        """A valid rule tree whose segment references name segments of the project."""
        with self.problems.at(path):
            conditions.check_tree(tree, field)
        for where, key in conditions.segment_refs(tree, field):
            if key not in self.keys["segments"]:
                message = f"No segment with key {key!r} in this project."
                self.problems.add(dotted(path, where), "unknown_reference", message)

    def design(self, item: Item, data: Mapping[str, Any]) -> None:
        """An experiment design's references (of an experiment or a template body)."""
        self.ref(item.path, "exclusion_group", data["exclusion_group"])
        self.ref(item.path, "audience", data["audience"])
        self.metrics(item.path, data["metrics"])


def _duplicates(items: Iterable[Item], field: str, problems: Problems, what: str) -> None:
    first: dict[Any, str] = {}
    for item in items:
        value = item.data.get(field)
        if value is None:
            continue
        if value in first:
            message = f"{what} {value!r} is already used at {first[value]}."
            problems.add(join(item.path, field), f"duplicate_{field}", message)
        else:
            first[value] = item.path


def _experiment(p: _Project, item: Item) -> None:
    data = item.data
    with p.problems.at(item.path):
        experiment_service.check_variants(data["variants"])
    with p.problems.at(item.path):
        experiment_service.check_analysis(data["analysis"])
    p.design(item, data)
    variants = {v["key"] for v in data["variants"]}
    decision = data["decision"]
    if decision is not None:
        where = join(item.path, "decision")
        if decision["winner"] is not None and decision["winner"] not in variants:
            message = f"The winner {decision['winner']!r} is not a variant of the experiment."
            p.problems.add(join(where, "winner"), "unknown_reference", message)
        p.ref(where, "rollout_flag", decision["rollout_flag"])
    versions: set[int] = set()
    for i, plan in enumerate(data["plans"]):
        where = join(item.path, "plans", i)
        if plan["version"] in versions:
            p.problems.add(join(where, "version"), "duplicate_version", "Plan versions repeat.")
        versions.add(plan["version"])
        p.metrics(where, plan["metrics"])


def _flag(p: _Project, item: Item, experiments: Mapping[str, Item]) -> None:
    data = item.data
    with p.problems.at(item.path):
        flag_service.check_values(data)
    for i, rule in enumerate(data["rules"]):
        where = join(item.path, "rules", i)
        p.ref(where, "audience", rule["audience"])
        if rule["conditions"] is not None:
            p.tree(where, "conditions", rule["conditions"])
    key, param = data["experiment"], data["experiment_param"]
    if (key is None) != (param is None):
        message = "A flag bound to an experiment names both experiment and experiment_param."
        p.problems.add(join(item.path, "experiment"), "invalid_value", message)
    elif key is not None and param is not None:
        p.ref(item.path, "experiment", key)
        bound = experiments.get(key)
        if bound is not None:
            with p.problems.at(item.path):
                variants = bound.data["variants"]
                flag_service.check_binding(data["type"], param, variants, "experiment_param")


def _allocation(p: _Project, item: Item, holds: bool) -> list[list[int]] | None:
    """The experiment's own ranges when well-formed and of the size of its traffic share."""
    ranges: list[list[int]] | None = item.data["allocation"]
    where = join(item.path, "allocation")
    if ranges is None:
        return None
    if not holds:
        message = "Only an experiment of an exclusion group that is not archived holds buckets."
        p.problems.add(where, "invalid_allocation", message)
        return None
    try:
        free_ranges({item.path: ranges})
    except AllocationError as exc:
        p.problems.add(where, "invalid_allocation", str(exc))
        return None
    size, share = allocated_buckets(ranges), percent_to_buckets(item.data["traffic_percent"])
    if size != share:
        message = f"The ranges cover {size} buckets; traffic_percent needs {share} of 10000."
        p.problems.add(where, "invalid_allocation", message)
        return None
    return ranges


def _layers(p: _Project) -> None:
    """Each layer's experiments hold at most its 10,000 buckets, in ranges that never overlap."""
    members: dict[str, list[Item]] = defaultdict(list)
    for item in p.items("experiments"):
        group = item.data["exclusion_group"]
        holds = group is not None and item.data["status"] != "archived"
        if holds:
            members[group].append(item)
        _allocation(p, item, holds)
    paths = {g.data["key"]: g.path for g in p.items("exclusion_groups")}
    for group, items in members.items():
        where = paths.get(group, join(items[0].path, "exclusion_group"))
        taken = sum(percent_to_buckets(i.data["traffic_percent"]) for i in items)
        if taken > BUCKETS:
            message = f"Its experiments take {taken / 100:g}% of its traffic; at most 100%."
            p.problems.add(where, "layer_full", message)
        ranges = {i.path: i.data["allocation"] for i in items if i.data["allocation"]}
        try:
            free_ranges(ranges)
        except AllocationError:
            p.problems.add(where, "invalid_allocation", "Its experiments' ranges overlap.")


def _project(part: ProjectPart, problems: Problems, allow_private: bool) -> None:
    p = _Project(part, problems)
    for kind in _KEYED:
        _duplicates(p.items(kind), "key", problems, "The key")
    _duplicates(p.items("experiments"), "salt", problems, "The salt")
    for item in p.items("segments"):
        data = item.data
        with problems.at(item.path):
            segment_service.check_body(data["type"], data["conditions"], data["unit_ids"])
    for item in p.items("audiences"):
        p.tree(item.path, "conditions", item.data["conditions"])
    for item in p.items("metrics"):
        with problems.at(item.path):
            metric_service.check_definition(item.data)
    for item in p.items("experiments"):
        _experiment(p, item)
    _layers(p)
    experiments = {item.data["key"]: item for item in p.items("experiments")}
    for item in p.items("flags"):
        _flag(p, item, experiments)
    for item in p.items("templates"):
        body = item.data["body"]
        with problems.at(item.path):
            template_service.check_body(body)
        p.design(Item(join(item.path, "body"), body), body)
    _webhooks(p.items("webhooks"), problems, allow_private)


def _webhooks(items: Iterable[Item], problems: Problems, allow_private: bool) -> None:
    for item in items:
        with problems.at(item.path):
            webhook_service.vet_url(item.data["url"], allow_private=allow_private)


def check(parsed: Parsed, problems: Problems, *, allow_private: bool) -> None:
    """Add every problem of a parsed document that its schema could not see."""
    projects = [Item(part.path, part.data) for part in parsed.projects if part.data is not None]
    _duplicates(projects, "key", problems, "The project key")
    for part in parsed.projects:
        _project(part, problems, allow_private)
    group_ids.check(parsed, problems)
    _webhooks(parsed.webhooks, problems, allow_private)
