"""AvsB's statistics engine: pure functions over sufficient statistics (numpy/scipy only).

No I/O, no globals, nothing from the server or the client. Formulas, assumptions and citations
are in docs/statistics.md, in the order a results page shows them.
"""

from avsb.stats.analysis import (
    AnalysisOptions,
    Comparison,
    Method,
    MetricAnalysis,
    MetricType,
    analyze_family,
    analyze_metric,
)
from avsb.stats.bandit import BanditConfig, BanditSimulation, simulate_thompson, uniform_regret
from avsb.stats.bayesian import (
    BayesianConfig,
    BayesianResult,
    NormalPrior,
    bayesian_test,
    beta_binomial_test,
)
from avsb.stats.categorical import (
    CategoricalPlan,
    ChiSquareResult,
    categorical_sample_size,
    chi_square_contingency,
    cohens_w,
)
from avsb.stats.cuped import cuped_adjust, cuped_estimates, cuped_theta
from avsb.stats.decision import (
    Decision,
    DecisionInput,
    MetricResult,
    Reason,
    StoppingRule,
    decide,
)
from avsb.stats.errors import StatsInputError
from avsb.stats.exact import exact_test, fisher_exact_log_p, newcombe_interval, wilson_interval
from avsb.stats.frequentist import (
    Difference,
    DifferenceType,
    EffectEstimate,
    Interval,
    TestConfig,
    compare,
    confidence_interval,
    difference,
    welch_test,
)
from avsb.stats.multiple_testing import (
    CorrectionMethod,
    MultipleTestingResult,
    adjust_p_values,
    correct,
    family_size,
)
from avsb.stats.power import (
    Baseline,
    PowerConfig,
    SampleSizePlan,
    SensitivityResult,
    Traffic,
    required_total_sample_size,
    sample_size,
    sensitivity,
    z_test_power,
)
from avsb.stats.sequential import SequentialConfig, sequential_interval, sequential_test
from avsb.stats.srm import (
    SequentialSrmResult,
    SrmResult,
    sequential_srm_p_values,
    sequential_srm_test,
    srm_test,
)
from avsb.stats.statistics import (
    ArmEstimate,
    MetricStatistic,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    estimate_arm,
)
from avsb.stats.stratification import poststratify

__all__ = [
    "AnalysisOptions",
    "ArmEstimate",
    "BanditConfig",
    "BanditSimulation",
    "Baseline",
    "BayesianConfig",
    "BayesianResult",
    "CategoricalPlan",
    "ChiSquareResult",
    "Comparison",
    "CorrectionMethod",
    "Decision",
    "DecisionInput",
    "Difference",
    "DifferenceType",
    "EffectEstimate",
    "Interval",
    "Method",
    "MetricAnalysis",
    "MetricResult",
    "MetricStatistic",
    "MetricType",
    "MultipleTestingResult",
    "NormalPrior",
    "PowerConfig",
    "ProportionStatistic",
    "RatioStatistic",
    "Reason",
    "RegressionAdjustedStatistic",
    "SampleMeanStatistic",
    "SampleSizePlan",
    "SensitivityResult",
    "SequentialConfig",
    "SequentialSrmResult",
    "SrmResult",
    "StatsInputError",
    "StoppingRule",
    "TestConfig",
    "Traffic",
    "adjust_p_values",
    "analyze_family",
    "analyze_metric",
    "bayesian_test",
    "beta_binomial_test",
    "categorical_sample_size",
    "chi_square_contingency",
    "cohens_w",
    "compare",
    "confidence_interval",
    "correct",
    "cuped_adjust",
    "cuped_estimates",
    "cuped_theta",
    "decide",
    "difference",
    "estimate_arm",
    "exact_test",
    "family_size",
    "fisher_exact_log_p",
    "newcombe_interval",
    "poststratify",
    "required_total_sample_size",
    "sample_size",
    "sensitivity",
    "sequential_interval",
    "sequential_srm_p_values",
    "sequential_srm_test",
    "sequential_test",
    "simulate_thompson",
    "srm_test",
    "uniform_regret",
    "welch_test",
    "wilson_interval",
    "z_test_power",
]
