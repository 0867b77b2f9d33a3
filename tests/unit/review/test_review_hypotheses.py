"""Hypothesis templates: deterministic, in If/then/because form, and passing the review."""

from __future__ import annotations

import pytest

from avsb.server.review import hypotheses, llm, rules


@pytest.mark.parametrize("goal", hypotheses.GOALS)
def test_every_goal__at_least_three_templates_that_the_review_accepts(
    goal: hypotheses.Goal,
) -> None:
    found = hypotheses.suggest(goal, "the checkout page", None, 10)
    assert len(found) >= 3
    for s in found:
        assert s.hypothesis.startswith("If we ")
        assert ", then " in s.hypothesis
        assert " because " in s.hypothesis
        assert "the checkout page" in s.hypothesis
        # The direction the rules read from the text is the template's, and it is the
        # metric's good direction (no template proposes making a metric worse).
        assert rules.hypothesis_direction(s.hypothesis) == s.direction
        assert (s.direction == "decrease") == s.lower_is_better
        assert s.guardrail_metrics
        d = rules.Design(
            hypothesis=s.hypothesis,
            variants=(
                rules.VariantPlan("control", 50, {"x": "a"}),
                rules.VariantPlan("b", 50, {"x": "b"}),
            ),
            metrics=(
                rules.MetricPlan(
                    s.primary_metric,
                    "primary",
                    "binary",
                    "metrics.0",
                    lower_is_better=s.lower_is_better,
                ),
                *(
                    rules.MetricPlan(g, "guardrail", "binary", f"metrics.{i + 1}")
                    for i, g in enumerate(s.guardrail_metrics)
                ),
            ),
            analysis=rules.AnalysisPlan(),
            planned_duration_days=14,
        )
        bad = {"unclear_hypothesis", "primary_direction", "no_guardrail"}
        assert bad.isdisjoint(f.code for f in rules.review(d).findings), s.hypothesis


def test_suggest__deterministic_count_and_metric_override() -> None:
    first = hypotheses.suggest("revenue", None, "ARPU", 2)
    assert first == hypotheses.suggest("revenue", None, "ARPU", 2)
    assert len(first) == 2
    assert all(s.metric == "ARPU" and "then ARPU will" in s.hypothesis for s in first)
    assert "the page" in first[0].hypothesis  # the default area


def test_suggest__context_with_braces_is_text_not_a_template() -> None:
    (s,) = hypotheses.suggest("conversion", "{area} {0}", None, 1)
    assert "{area} {0}" in s.hypothesis


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"items": ["a", "b"]}', ["a", "b"]),
        ('```json\n{"items": ["a"]}\n```', ["a"]),
        ("- first\n- second\n\n", ["first", "second"]),
        ('{"other": 1}', ['{"other": 1}']),
    ],
)
def test_llm_items__json_fenced_or_lines(content: str, expected: list[str]) -> None:
    assert llm._items(content) == expected


def test_llm_items__bounded() -> None:
    many = "\n".join("x" * 5000 for _ in range(50))
    found = llm._items(many)
    assert len(found) == llm.MAX_ITEMS
    assert all(len(item) == llm.MAX_ITEM_CHARS for item in found)
