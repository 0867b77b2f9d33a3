"""Sequential testing by asymptotic confidence sequences, valid under continuous monitoring.

Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2023), "Time-uniform central limit theory and
asymptotic confidence sequences"; the normal-mixture boundary of Howard, Ramdas, McAuliffe &
Sekhon (2021), "Time-uniform, nonparametric, nonasymptotic confidence sequences". With n units
so far (both arms of the comparison), z = estimate / SE and a = rho^2 n, the mixture martingale
is M = exp(a z^2 / (2 (1 + a))) / sqrt(1 + a); the interval is where M < 1 / alpha and the
always-valid p-value is min(1, 1 / M). One-sided tests mix over a half-normal instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from scipy import optimize, special

from avsb.stats import _dist
from avsb.stats.errors import require
from avsb.stats.frequentist import (
    Contrast,
    Difference,
    EffectEstimate,
    Interval,
    TestConfig,
    check_variance,
    contrast,
    directional,
    on_contrast_scale,
    relative_interval,
)
from avsb.stats.statistics import ArmEstimate

DEFAULT_TUNING_PARAMETER = 5000.0
# The units to be narrowest at: fewer than one unit or more than any experiment has is no setting.
MIN_TUNING = 1.0
MAX_TUNING = 1e15


@dataclass(frozen=True, slots=True)
class SequentialConfig:
    """A test config and the tuning parameter: the units (both arms) to be narrowest at."""

    test: TestConfig = field(default_factory=TestConfig)
    tuning_parameter: float = DEFAULT_TUNING_PARAMETER

    def __post_init__(self) -> None:
        tuning = self.tuning_parameter
        require(
            MIN_TUNING <= tuning <= MAX_TUNING,
            "sequential_tuning_parameter",
            f"must be in [{MIN_TUNING:g}, {MAX_TUNING:g}] units, got {tuning}",
        )


def sequential_rho(alpha: float, tuning_parameter: float) -> float:
    """Mixture scale rho that makes the interval narrowest at n = tuning_parameter."""
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(-2 * log_alpha + 1)) / tuning_parameter)


def _mixing(n: int, config: SequentialConfig) -> float:
    """a = rho^2 n, the mixture's weight on the data so far."""
    rho = sequential_rho(config.test.alpha, config.tuning_parameter)
    return rho * rho * n


def _log_mixture(z: float, a: float, two_sided: bool) -> float:
    """log of the mixture martingale at standardised statistic z (direction-signed if one-sided)."""
    quadratic = a * z * z / (2 * (1 + a)) - 0.5 * math.log1p(a)
    if two_sided:
        return quadratic
    return math.log(2.0) + quadratic + float(special.log_ndtr(z * math.sqrt(a / (1 + a))))


def _boundary(a: float, alpha: float, two_sided: bool) -> float:
    """The |z| at which the mixture reaches 1 / alpha: the interval's half-width in SEs."""
    target = -math.log(alpha)
    closed_form = math.sqrt(2 * (1 + a) / a * (target + 0.5 * math.log1p(a)))
    if two_sided:
        return closed_form
    return float(
        optimize.brentq(
            lambda z: _log_mixture(z, a, two_sided=False) - target, 0.0, closed_form, xtol=1e-12
        )
    )


def sequential_interval(
    diff: Difference, n: int, config: SequentialConfig, alpha: float | None = None
) -> Interval:
    """Always-valid interval after n units (both arms) at 1 - alpha (default: config's)."""
    # rho stays tuned to the config's alpha, so a multiplicity-adjusted `alpha` widens the
    # interval without changing the p-value it is consistent with.
    require(n >= 2, "n", f"need at least 2 units, got {n}")
    test = config.test
    level = test.alpha if alpha is None else alpha
    half = _boundary(_mixing(n, config), level, test.two_sided) * diff.standard_error
    if test.two_sided:
        return (diff.estimate - half, diff.estimate + half)
    if test.lower_is_better:
        return (None, diff.estimate + half)
    return (diff.estimate - half, None)


def sequential_test(diff: Difference, n: int, config: SequentialConfig) -> EffectEstimate:
    """Always-valid p-value and interval for the effect after n units (both arms)."""
    check_variance(diff)
    require(n >= 2, "n", f"need at least 2 units, got {n}")
    z = diff.estimate / diff.standard_error
    test = config.test
    if not test.two_sided:
        z = directional(z, test.lower_is_better)
    log_p = min(0.0, -_log_mixture(z, _mixing(n, config), test.two_sided))
    p_value = _dist.p_from_log(log_p)
    return EffectEstimate(
        estimate=diff.estimate,
        standard_error=diff.standard_error,
        ci=sequential_interval(diff, n, config),
        p_value=p_value,
        log_p_value=log_p,
        significant=p_value <= test.alpha,
        difference_type=diff.difference_type,
        test="sequential_confidence_sequence",
    )


def sequential_critical(n: int, config: SequentialConfig, alpha: float | None = None) -> float:
    """The boundary in standard errors after n units: the sequential 'critical value'."""
    require(n >= 2, "n", f"need at least 2 units, got {n}")
    test = config.test
    level = test.alpha if alpha is None else alpha
    return _boundary(_mixing(n, config), level, test.two_sided)


def sequential_contrast(
    control: ArmEstimate, treatment: ArmEstimate, config: SequentialConfig
) -> Contrast:
    """The contrast a sequential test reports, the scale decided at its current boundary."""
    n = control.n + treatment.n
    return contrast(control, treatment, config.test.difference_type, sequential_critical(n, config))


def sequential_contrast_interval(
    item: Contrast, config: SequentialConfig, alpha: float | None = None
) -> Interval:
    """Always-valid interval on the contrast's scale (relative: Fieller at the boundary)."""
    n = item.control.n + item.treatment.n
    if item.scale == "absolute":
        return sequential_interval(item.absolute, n, config, alpha)
    critical = sequential_critical(n, config, alpha)
    return relative_interval(item, critical, critical, config.test)


def sequential_contrast_test(item: Contrast, config: SequentialConfig) -> EffectEstimate:
    """Always-valid p-value of the absolute difference; effect and interval on the item's scale."""
    n = item.control.n + item.treatment.n
    tested = sequential_test(item.absolute, n, config)
    return on_contrast_scale(item, tested, lambda: sequential_contrast_interval(item, config))


__all__ = [
    "DEFAULT_TUNING_PARAMETER",
    "SequentialConfig",
    "sequential_contrast",
    "sequential_contrast_interval",
    "sequential_contrast_test",
    "sequential_critical",
    "sequential_interval",
    "sequential_rho",
    "sequential_test",
]
