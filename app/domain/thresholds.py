"""Alert thresholds of the Explore stage: named defaults, each with the reason for its value.

A project can override any of them (``mlwb eda thresholds --set NAME=VALUE``); overrides are
stored as JSON in the project state under ``EDA_THRESHOLDS_KEY``. ``AlertThresholds`` validates
the values, so a share stays in [0, 1] and a count stays positive.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.errors import ValidationFailed

EDA_THRESHOLDS_KEY = "eda_thresholds"
"""project_state key holding the JSON object of threshold overrides."""

NEAR_CONSTANT_SHARE = 0.99
"""One value in 99 % of rows leaves too few other rows to learn anything from."""
MISSING_SHARE = 0.05
"""Beyond 5 % missing, how the gaps are filled starts to change results."""
MOSTLY_MISSING_SHARE = 0.5
"""More than half missing: the column is mostly imputation; dropping it is suggested."""
HIGH_CARDINALITY = 50
"""Beyond 50 categories one-hot encoding gets wide and rare categories overfit
(ydata-profiling's default too)."""
ID_DISTINCT_SHARE = 0.99
"""A distinct value in (nearly) every row means an identifier, not a feature; 'nearly' allows
for HyperLogLog's error when distinct values are estimated."""
SKEW_ABS = 2.0
"""Beyond |skewness| 2 a log or power transform usually helps linear models and plots."""
ZEROS_SHARE = 0.10
"""Zeros in over 10 % of rows often mean 'none' or 'not measured' (ydata-profiling's default)."""
IMBALANCE_SHARE = 0.30
"""A minority class under 30 % calls for stratified splits and a threshold-aware metric
(Google's ML course calls 20-40 % mild imbalance)."""
DUPLICATE_SHARE = 0.05
"""Duplicate rows above 5 % are a high-severity alert (any duplicate is reported)."""
HIGH_CORRELATION = 0.9
"""|r|, Cramér's V or the correlation ratio at 0.9 or above: two columns carry nearly the same
information."""
LEAKAGE_CORRELATION = 0.95
"""A single feature this associated with the target is usually derived from it."""
OUTLIER_SHARE = 0.01
"""Tukey's 1.5·IQR fences flag 0.7 % of a normal sample; more suggests heavy tails or faults."""
IQR_FACTOR = 1.5
"""Tukey's fences: below Q1 - 1.5·IQR or above Q3 + 1.5·IQR."""
Z_LIMIT = 3.0
"""|z| above 3 holds 0.27 % of a normal sample."""
REGULAR_STEP_SHARE = 0.5
"""A time column is 'regular' (so gaps are meaningful) when at least half of the steps between
consecutive distinct values equal the usual step."""


class AlertThresholds(BaseModel):
    """The thresholds in force; field descriptions say why each default was chosen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    near_constant_share: float = Field(NEAR_CONSTANT_SHARE, gt=0, le=1)
    missing_share: float = Field(MISSING_SHARE, ge=0, le=1)
    mostly_missing_share: float = Field(MOSTLY_MISSING_SHARE, gt=0, le=1)
    high_cardinality: int = Field(HIGH_CARDINALITY, ge=2)
    id_distinct_share: float = Field(ID_DISTINCT_SHARE, gt=0, le=1)
    skew_abs: float = Field(SKEW_ABS, gt=0)
    zeros_share: float = Field(ZEROS_SHARE, gt=0, le=1)
    imbalance_share: float = Field(IMBALANCE_SHARE, gt=0, le=0.5)
    duplicate_share: float = Field(DUPLICATE_SHARE, gt=0, le=1)
    high_correlation: float = Field(HIGH_CORRELATION, gt=0, le=1)
    leakage_correlation: float = Field(LEAKAGE_CORRELATION, gt=0, le=1)
    outlier_share: float = Field(OUTLIER_SHARE, gt=0, le=1)
    iqr_factor: float = Field(IQR_FACTOR, gt=0)
    z_limit: float = Field(Z_LIMIT, gt=0)
    regular_step_share: float = Field(REGULAR_STEP_SHARE, gt=0, le=1)


REASONS: dict[str, str] = {
    "near_constant_share": "one value in this share of rows leaves too little to learn from",
    "missing_share": "beyond this share missing, how gaps are filled changes results",
    "mostly_missing_share": "above this share missing, dropping the column is suggested",
    "high_cardinality": "more categories than this make one-hot encoding wide and sparse",
    "id_distinct_share": "distinct values in this share of rows mean an identifier",
    "skew_abs": "beyond this |skewness| a log or power transform usually helps",
    "zeros_share": "zeros in more rows than this often mean 'none' or 'not measured'",
    "imbalance_share": "a minority class below this share calls for stratified splits",
    "duplicate_share": "duplicate rows above this share are a high-severity alert",
    "high_correlation": "associations at or above this mean nearly the same information",
    "leakage_correlation": "a feature this associated with the target is likely derived from it",
    "outlier_share": "IQR outliers above this share (0.7 % in normal data) are reported",
    "iqr_factor": "Tukey's fences: Q1 - factor·IQR and Q3 + factor·IQR",
    "z_limit": "|z| above this counts as an outlier (0.27 % of normal data beyond 3)",
    "regular_step_share": "gaps are reported when this share of steps equals the usual step",
}
"""Short reasons, for ``mlwb eda thresholds`` and the settings screen."""


def parse_thresholds(values: dict[str, Any]) -> AlertThresholds:
    """Validate threshold values; unknown names and bad values are reported by name."""
    try:
        return AlertThresholds.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"])
            if error["type"] == "extra_forbidden":
                message = f"unknown threshold; use one of {', '.join(AlertThresholds.model_fields)}"
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
            problems.append((name, message))
        raise ValidationFailed(
            "the thresholds are not valid", problems, hint="see them with: mlwb eda thresholds"
        ) from None
