"""The live sample-size estimate's request, built from the experiment being edited."""

from __future__ import annotations

from avsb.server.dashboard.forms.estimate import parse_estimate
from avsb.server.dashboard.forms.experiment_form import new_values
from avsb.server.tools import service


def _form(**fields: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in {**new_values(), **fields}.items()}


def test_request__from_the_design_and_the_metric() -> None:
    form = _form(**{
        "analysis.mde_pct": "10", "estimate.baseline_value": "0.1",
        "estimate.expected_daily_traffic": "1000", "traffic_percent": "50",
    })  # fmt: skip
    request, parsed = parse_estimate(form, "binary")
    assert parsed.errors == {}
    assert request is not None
    assert request.metric_type == "binary"
    assert request.audience_share_in_test == 0.5
    assert request.traffic_split == [50.0, 50.0]
    assert request.variants_count == 2
    result = service.sample_size(request)
    assert result.sample_size_per_variant[0] > 1000
    assert result.estimated_duration_days is not None
    assert result.estimated_duration_days > 0


def test_errors__beside_the_fields_they_concern() -> None:
    request, parsed = parse_estimate(_form(), "binary")
    assert request is None
    assert set(parsed.errors) == {"analysis.mde_pct", "estimate.baseline_value"}
    form = _form(**{"analysis.mde_pct": "10", "estimate.baseline_value": "2"})
    request, parsed = parse_estimate(form, "binary")
    assert request is None
    assert "estimate.baseline_value" in parsed.errors
    request, parsed = parse_estimate(form, "mean")
    assert request is None
    assert "estimate.std_dev" in parsed.errors
