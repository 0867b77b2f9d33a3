"""The shared golden vectors in spec/stats_goldens.json, run through avsb.stats."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import avsb.stats as st
from avsb.server.tools import schemas, service

GOLDENS = json.loads((Path(__file__).parents[3] / "spec" / "stats_goldens.json").read_text())
Case = dict[str, Any]


def _compare(inp: Case) -> dict[str, Any]:
    kind = st.ProportionStatistic if inp["metric_type"] == "binary" else st.SampleMeanStatistic
    r = st.compare(kind(**inp["control"]), kind(**inp["treatment"]), st.TestConfig(**inp["config"]))
    return {
        "estimate": r.estimate,
        "standard_error": r.standard_error,
        "p_value": r.p_value,
        "ci": list(r.ci),
    }


def _exact(inp: Case) -> dict[str, Any]:
    c, t = st.ProportionStatistic(**inp["control"]), st.ProportionStatistic(**inp["treatment"])
    r = st.exact_test(c, t, st.TestConfig(**inp["config"]))
    return {"estimate": r.estimate, "p_value": r.p_value, "ci": list(r.ci)}


def _srm(inp: Case) -> dict[str, Any]:
    r = st.srm_test(inp["observed"], inp["weights"], inp["threshold"])
    return {"chi2": r.chi2, "p_value": r.p_value}


def _correct(inp: Case) -> dict[str, Any]:
    r = st.correct(inp["p_values"], inp["method"], inp["alpha"])
    return {"adjusted_p_values": list(r.adjusted_p_values), "reject": list(r.reject)}


def _sample_size(inp: Case) -> dict[str, Any]:
    return service.sample_size(schemas.SampleSizeRequest.model_validate(inp)).model_dump()


def _sequential(inp: Case) -> dict[str, Any]:
    diff = st.Difference(inp["estimate"], inp["variance"], math.inf, "absolute")
    config = st.SequentialConfig(
        st.TestConfig(inp["alpha"], inp["two_sided"]), inp["tuning_parameter"]
    )
    r = st.sequential_test(diff, inp["n"], config)
    return {"p_value": r.p_value, "ci": list(r.ci)}


def _bayesian(inp: Case) -> dict[str, Any]:
    diff = st.Difference(inp["estimate"], inp["variance"], math.inf, inp["difference_type"])
    config = st.BayesianConfig(st.TestConfig(alpha=inp["alpha"]), st.NormalPrior(**inp["prior"]))
    r = st.bayesian_test(diff, inp["control_mean"], config)
    return {
        "estimate": r.estimate,
        "chance_to_win": r.chance_to_win,
        "risk_control": r.risk_control,
        "risk_variant": r.risk_variant,
        "ci": list(r.ci),
    }


RUNNERS: dict[str, Callable[[Case], dict[str, Any]]] = {
    "compare": _compare,
    "exact_test": _exact,
    "srm_test": _srm,
    "correct": _correct,
    "sample_size": _sample_size,
    "sequential_test": _sequential,
    "bayesian_test": _bayesian,
}


@pytest.mark.parametrize("case", GOLDENS["cases"], ids=[c["name"] for c in GOLDENS["cases"]])
def test_golden__engine_output__matches_within_tolerance(case: Case) -> None:
    actual = RUNNERS[case["function"]](case["input"])
    tolerance = case["tolerance"]

    for key, expected in case["expected"].items():
        assert actual[key] == pytest.approx(
            expected, rel=tolerance.get("rel"), abs=tolerance.get("abs")
        ), key
