"""Answer of ``POST /api/tools/analyze-file``: the shape of an experiment's results."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from avsb.server.results.schemas import MetricResultOut, SrmOut


class FileSummary(BaseModel):
    format: Literal["csv", "parquet"]
    rows: int = Field(description="Rows in the file")
    units: int = Field(description="Distinct units analysed")
    skipped_rows: int = Field(description="Rows without a unit or a variant")
    multiple_variant_units: int = Field(
        description="Units that appear under more than one variant (left out, as in results)"
    )


class AnalyzeFileResult(BaseModel):
    file: FileSummary
    control: str
    variants: list[str] = Field(description="Control first, then the others by name")
    method: str
    alpha: float
    srm: SrmOut = Field(description="Against an equal split of the variants")
    metrics: list[MetricResultOut]
