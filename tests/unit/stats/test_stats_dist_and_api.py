"""Log-space tails, the curated public surface and the purity rule of avsb.stats."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
from scipy import stats as sps

import avsb.stats
from avsb.stats import _dist

STATS_DIR = Path(avsb.stats.__file__).parent


class TestLogTails:
    @pytest.mark.parametrize(
        ("x", "df"), [(3.0, 10.0), (40.0, 100.0), (300.0, 5.0), (2.0, math.inf)]
    )
    def test_t_log_sf__where_scipy_is_finite__agrees(self, x: float, df: float) -> None:
        expected = sps.norm.logsf(x) if math.isinf(df) else sps.t.logsf(x, df)

        assert _dist.t_log_sf(x, df) == pytest.approx(expected, rel=1e-9)

    @pytest.mark.parametrize("df", [1e4, 1e6, 1e9])
    def test_t_log_sf__where_scipy_underflows__finite_and_near_normal(self, df: float) -> None:
        assert sps.t.logsf(40.0, df) == -math.inf

        value = _dist.t_log_sf(40.0, df)

        assert math.isfinite(value)
        assert sps.t.logsf(40.0, 100.0) > value >= sps.norm.logsf(40.0) - 1e-9

    def test_chi2_log_sf__two_df__is_minus_half_x(self) -> None:
        assert _dist.chi2_log_sf(5000.0, 2) == pytest.approx(-2500.0, rel=1e-12)

    def test_p_from_log__underflow__clamped_positive(self) -> None:
        assert _dist.p_from_log(-804.6) == _dist.TINY_P > 0
        assert _dist.p_from_log(0.5) == 1.0


class TestPublicSurface:
    def test_all__every_name_importable_and_sorted(self) -> None:
        names = avsb.stats.__all__

        assert names == sorted(names)
        assert all(hasattr(avsb.stats, name) for name in names)

    def test_all__pinned_core_entry_points(self) -> None:
        core = {
            "SampleMeanStatistic",
            "ProportionStatistic",
            "RegressionAdjustedStatistic",
            "RatioStatistic",
            "compare",
            "welch_test",
            "sequential_test",
            "bayesian_test",
            "exact_test",
            "cuped_estimates",
            "poststratify",
            "srm_test",
            "sequential_srm_test",
            "correct",
            "sample_size",
            "sensitivity",
            "categorical_sample_size",
            "simulate_thompson",
            "decide",
            "analyze_metric",
            "StatsInputError",
        }

        assert core <= set(avsb.stats.__all__)


def test_imports__stats_modules__never_import_server_client_or_io() -> None:
    forbidden = ("avsb.server", "avsb.client", "sqlalchemy", "fastapi", "httpx", "os", "pathlib")
    for path in STATS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                assert not module.startswith(forbidden), f"{path.name} imports {module}"
