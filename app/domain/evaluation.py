"""The Evaluate stage as data: metrics with intervals, curves, segments, the gate decision."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_RESAMPLES = 1_000
"""Bootstrap resamples over holdout rows for every interval."""
CONFIDENCE = 0.95
"""Coverage of every interval (percentile bootstrap)."""
SEGMENT_RESAMPLES = 200
"""Resamples per segment (segments are many and small; their intervals are wider anyway)."""
SEGMENT_MIN_ROWS = 30
"""Segments with fewer holdout rows are listed without an interval."""
IMPORTANCE_ROWS = 5_000
"""Permutation importance runs on a seeded sample of at most this many holdout rows."""
IMPORTANCE_REPEATS = 5
"""Shuffles per feature in permutation importance."""
LATENCY_CALLS = 200
"""Single-row predictions timed for the latency percentiles."""
OVERFIT_GAP = 0.05
"""A cross-validation score this much better than the holdout (beyond its interval) points
to overfitting or a holdout unlike the training data."""


class Interval(BaseModel):
    """A point estimate with a bootstrap interval (None when undefined on these rows)."""

    value: float | None
    low: float | None = None
    high: float | None = None
    note: str = ""
    """Why the value is missing or special (e.g. one class present)."""


class MetricResult(BaseModel):
    """One metric on the holdout, the baseline's, and the paired difference."""

    name: str
    label: str
    model: Interval
    baseline: Interval | None = None
    difference: Interval | None = None
    """Model minus baseline, paired bootstrap."""
    better: bool | None = None
    """The difference's interval excludes zero in the metric's good direction."""


class CurvePoint(BaseModel):
    """One point of a curve: x, y and the threshold that gives it (if any)."""

    x: float
    y: float
    threshold: float | None = None


class SegmentResult(BaseModel):
    """The primary metric on one slice of the holdout."""

    column: str
    value: str
    n: int
    metric: Interval


class Importance(BaseModel):
    """Permutation importance of one input column (drop in the primary metric)."""

    feature: str
    mean: float
    std: float


class Latency(BaseModel):
    """Measured prediction time."""

    single_p50_ms: float
    single_p95_ms: float
    batch_ms_per_row: float
    batch_rows: int


class GateOutcome(StrEnum):
    """The gate's verdict."""

    PASS = "pass"
    FAIL = "fail"
    TOO_CLOSE = "too_close"

    @property
    def label(self) -> str:
        """The verdict in words."""
        return {"pass": "PASS", "fail": "FAIL", "too_close": "TOO CLOSE TO CALL"}[self.value]

    @property
    def exit_code(self) -> int:
        """``mlwb gate`` exit code: 0 pass, 1 fail, 2 too close to call."""
        return {"pass": 0, "fail": 1, "too_close": 2}[self.value]


class GateCheck(BaseModel):
    """One condition of the gate and whether it held."""

    name: str
    passed: bool | None
    """None when undecided (the interval straddles the threshold)."""
    detail: str


class Pointer(BaseModel):
    """Where to go back to, and why."""

    stage: str
    reason: str


class GateDecision(BaseModel):
    """The gate: outcome, every check with its evidence, and what to do next."""

    outcome: GateOutcome
    checks: list[GateCheck]
    summary: str
    rows_needed: int | None = None
    """Estimated holdout rows for the interval to clear the threshold (too close to call)."""
    pointers: list[Pointer] = Field(default_factory=list)


class Evaluation(BaseModel):
    """A run's model judged on the locked holdout against the charter."""

    id: int = 0
    run_id: int
    candidate: str
    label: str
    charter_version: int
    trained_charter_version: int | None = None
    dataset: str
    version: int
    task: str
    target: str
    positive_class: str | None = None
    n_holdout: int
    threshold: float | None = None
    threshold_source: str = ""
    """``default``, ``given``, ``tuned on out-of-fold predictions`` or ``stored``."""
    primary: str
    resamples: int
    seed: int
    metrics: list[MetricResult]
    per_class: dict[str, dict[str, float]] = Field(default_factory=dict)
    confusion: list[list[int]] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)
    curves: dict[str, list[CurvePoint]] = Field(default_factory=dict)
    """roc, pr, calibration, threshold (binary); residuals, actual_vs_predicted (regression)."""
    histogram: dict[str, list[float]] = Field(default_factory=dict)
    """Residual histogram (regression): ``edges`` and ``counts``."""
    segments: list[SegmentResult] = Field(default_factory=list)
    importance: list[Importance] = Field(default_factory=list)
    importance_rows: int = 0
    coefficients: list[dict[str, Any]] = Field(default_factory=list)
    latency: Latency | None = None
    cv_primary: float | None = None
    gate: GateDecision
    notes: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    seconds: float = 0.0

    def metric(self, name: str) -> MetricResult | None:
        """The named metric's result."""
        for m in self.metrics:
            if m.name == name:
                return m
        return None
