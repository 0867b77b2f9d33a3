"""Request and response models of the per-unit tools: quantile, rank test, bootstrap, and
the categorical readout (``/api/tools/quantile|rank-test|bootstrap|categorical``).

Per-unit tools take each variant's values (control first); sizes are bounded so one request
stays a few megabytes of JSON: at most 10 variants of at most ``MAX_VALUES`` values each.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, model_validator

from avsb.server.tools.schemas import Loc, _Errors, _Request

MAX_VALUES = 100_000
MAX_CATEGORIES = 100
MAX_BOOTSTRAP_DRAWS = 50_000_000  # bounds one request's work (~1 s of draws)
Count = Annotated[int, Field(ge=0, le=10**12)]
Value = Annotated[float, Field(ge=-1e15, le=1e15)]
# A level whose normal quantile is finite (1 - 1e-10 / 2 is still below 1.0 in doubles).
Alpha = Annotated[float, Field(ge=1e-10, lt=1)]  # a per-unit value; its cube stays finite


class UnitValues(_Request):
    """One variant's per-unit values (finite numbers)."""

    key: str = Field(min_length=1, max_length=200)
    values: list[Value] = Field(min_length=2, max_length=MAX_VALUES)


def _unique(keys: list[str], loc: Loc, errors: _Errors) -> None:
    seen: set[str] = set()
    for index, key in enumerate(keys):
        if key in seen:
            errors.add((*loc, index, "key"), f"duplicate variant key {key!r}", key)
        seen.add(key)


class _PerUnitRequest(_Request):
    variants: list[UnitValues] = Field(min_length=2, max_length=10)
    alpha: Alpha = 0.05

    @model_validator(mode="after")
    def _check_keys(self) -> Self:
        errors = _Errors(type(self).__name__)
        _unique([v.key for v in self.variants], ("variants",), errors)
        errors.raise_any()
        return self


class QuantileRequest(_PerUnitRequest):
    quantile: float = Field(0.5, gt=0, lt=1, description="the probability: 0.5 = median")
    difference_type: Literal["relative", "absolute"] = "relative"
    two_sided: bool = Field(True, description="false = one-sided: the variant is better")
    lower_is_better: bool = False


class QuantileVariant(BaseModel):
    key: str
    n: int
    quantile: float = Field(description="the sample quantile (linear interpolation)")
    ci: tuple[float, float] = Field(description="order statistics X_(L), X_(U)")
    standard_error: float


class EffectResult(BaseModel):
    variant: str
    estimate: float
    standard_error: float
    ci: tuple[float | None, float | None]
    p_value: float | None
    significant: bool | None
    difference_type: Literal["relative", "absolute"]
    test: str


class QuantileResult(BaseModel):
    quantile: float
    variants: list[QuantileVariant]
    comparisons: list[EffectResult]


class RankTestRequest(_PerUnitRequest):
    two_sided: bool = Field(True, description="false = one-sided: the variant is better")
    lower_is_better: bool = False
    method: Literal["auto", "exact", "asymptotic"] = Field(
        "auto", description="auto: exact for small samples without ties"
    )


class RankComparison(BaseModel):
    variant: str
    u_statistic: float = Field(description="U of the variant: pairs it wins, ties counting 1/2")
    z: float | None = Field(description="null for the exact test")
    p_value: float
    probability_of_superiority: float = Field(description="U / (n_variant n_control)")
    significant: bool
    method: Literal["exact", "asymptotic"]
    test: str


class RankTestResult(BaseModel):
    comparisons: list[RankComparison]


class BootstrapRequest(_PerUnitRequest):
    resamples: int = Field(2000, ge=100, le=20_000)
    method: Literal["percentile", "bca"] = "bca"
    difference_type: Literal["relative", "absolute"] = "absolute"
    seed: int = Field(0, ge=0, le=2**63 - 1)

    @model_validator(mode="after")
    def _check_work(self) -> Self:
        draws = self.resamples * sum(len(v.values) for v in self.variants)
        if draws > MAX_BOOTSTRAP_DRAWS:
            errors = _Errors(type(self).__name__)
            message = (
                f"resamples x values is {draws:,}; at most {MAX_BOOTSTRAP_DRAWS:,} per request"
            )
            errors.add(("resamples",), message, self.resamples)
            errors.raise_any()
        return self


class BootstrapComparison(BaseModel):
    variant: str
    estimate: float
    ci: tuple[float, float]
    standard_error: float = Field(description="SD of the bootstrap replicates")
    difference_type: Literal["relative", "absolute"]
    method: Literal["percentile", "bca"]
    resamples: int
    acceleration: float | None
    bias_correction: float | None


class BootstrapResult(BaseModel):
    comparisons: list[BootstrapComparison]


class CategoryCounts(_Request):
    key: str = Field(min_length=1, max_length=200)
    counts: list[Count] = Field(min_length=1, max_length=MAX_CATEGORIES)


class CategoricalRequest(_Request):
    """Units per category for each variant (control first), one count per category."""

    categories: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=2, max_length=MAX_CATEGORIES
    )
    variants: list[CategoryCounts] = Field(min_length=2, max_length=10)
    alpha: Alpha = 0.05

    @model_validator(mode="after")
    def _check(self) -> Self:
        errors = _Errors(type(self).__name__)
        _unique([v.key for v in self.variants], ("variants",), errors)
        if len(set(self.categories)) != len(self.categories):
            errors.add(("categories",), "category names must be unique", self.categories)
        for index, variant in enumerate(self.variants):
            if len(variant.counts) != len(self.categories):
                message = f"need {len(self.categories)} counts, one per category"
                errors.add(("variants", index, "counts"), message, variant.counts)
            elif sum(variant.counts) == 0:
                errors.add(("variants", index, "counts"), "a variant needs >= 1 unit", None)
        errors.raise_any()
        return self


class ChiSquareOut(BaseModel):
    chi2: float
    df: int
    p_value: float


class CategoryLiftOut(BaseModel):
    category: str
    control_share: float
    variant_share: float
    difference: float = Field(description="variant share - control share")
    ci: tuple[float, float] = Field(description="Newcombe hybrid score interval")
    p_value: float
    relative_lift: float | None = Field(description="variant share / control share - 1")
    relative_ci: tuple[float, float] | None


class CategoricalComparisonOut(BaseModel):
    variant: str
    chi_square: ChiSquareOut | None
    lifts: list[CategoryLiftOut]


class CategoricalVariant(BaseModel):
    key: str
    n: int
    counts: list[int]
    shares: list[float]


class CategoricalResult(BaseModel):
    categories: list[str]
    variants: list[CategoricalVariant]
    chi_square: ChiSquareOut | None = Field(description="independence of variant and category")
    comparisons: list[CategoricalComparisonOut]
