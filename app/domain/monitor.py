"""Monitoring records: one batch of new rows scored by the production bundle and compared with
its training baseline (drift), its contract (violations) and, once labels arrive, the
evaluation (performance)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from app.domain.drift import BatchDrift, FeatureDrift

WARN_SHARE = 0.10
"""Importance-weighted share of drifted features at which a batch is a warning: one feature in
ten (by importance) moving is worth a look, not yet an action. Without importances any drifted
feature warns."""
ALERT_SHARE = 0.30
"""... and at which it is an alert: a third of what the model relies on has moved."""
REJECT_WARN = 0.01
"""Share of rejected rows (contract breaks) at which a batch is a warning (upstream data)."""
REJECT_ALERT = 0.10
"""... and an alert: one row in ten cannot be scored at all."""


class Status(StrEnum):
    """A batch's verdict."""

    OK = "ok"
    WARN = "warn"
    ALERT = "alert"

    @property
    def rank(self) -> int:
        return {"ok": 0, "warn": 1, "alert": 2}[self.value]


class Decision(StrEnum):
    """What the user decided about a batch's recommendation."""

    RETRAIN = "retrain"
    INSPECT = "inspect"
    ACCEPT = "accept"


class ColumnViolations(BaseModel):
    """Contract breaks of one column in a batch."""

    column: str
    type_failures: int = 0
    """Values that could not be read as the column's type (rows rejected)."""
    missing_not_allowed: int = 0
    """Missing values in a column training never had missing (rows rejected)."""
    out_of_range: int = 0
    """Values outside the training range (scored, flagged)."""
    unseen: int = 0
    """Categories training never saw (scored, flagged)."""
    missing_rate: float | None = None
    baseline_missing_rate: float | None = None

    @property
    def total(self) -> int:
        return self.type_failures + self.missing_not_allowed + self.out_of_range + self.unseen


class Violations(BaseModel):
    """Contract breaks of a batch, per column."""

    missing_columns: list[str] = Field(default_factory=list)
    """Optional raw columns the batch lacks (read as missing)."""
    extra_columns: list[str] = Field(default_factory=list)
    columns: list[ColumnViolations] = Field(default_factory=list)
    rejected_rows: int = 0
    other_rejects: int = 0
    """Rejects whose reason names no column."""


class Performance(BaseModel):
    """The primary metric on the labelled rows of a batch, against the evaluation."""

    metric: str
    label: str
    higher_is_better: bool
    value: float | None
    low: float | None = None
    high: float | None = None
    n_labelled: int
    resamples: int
    baseline: float | None = None
    """The metric on the locked holdout when the bundle was built."""
    baseline_low: float | None = None
    baseline_high: float | None = None
    threshold: float
    """The charter's bar for the primary metric."""
    meets_threshold: bool | None = None
    label_distribution: dict[str, float] = Field(default_factory=dict)
    """Share of each label (classification) or mean/std (regression)."""
    unmatched_keys: int = 0
    """Label rows whose key matched no scored row."""


class Reason(BaseModel):
    """One thing behind a batch's status."""

    status: Status
    text: str


class ShadowResult(BaseModel):
    """A challenger scored in the shadow of production on one labelled batch: both models on
    the same rows, with the paired bootstrap interval of (challenger − production)."""

    version: int
    """The challenger's bundle version (alias ``shadow``)."""
    run_id: int
    metric: str
    label: str
    higher_is_better: bool
    n_rows: int
    """Labelled rows both models scored (a seeded sample of at most ``SHADOW_ROWS``)."""
    sampled: bool = False
    production: float | None = None
    production_low: float | None = None
    production_high: float | None = None
    challenger: float | None = None
    challenger_low: float | None = None
    challenger_high: float | None = None
    difference: float | None = None
    difference_low: float | None = None
    difference_high: float | None = None
    note: str = ""

    @property
    def better(self) -> bool | None:
        """Whether the whole difference interval favours the challenger (None: undecided)."""
        if self.difference_low is None or self.difference_high is None:
            return None
        return self.difference_low > 0 if self.higher_is_better else self.difference_high < 0


class BatchReport(BaseModel):
    """Everything computed for one batch."""

    drift: BatchDrift
    prediction_drift: FeatureDrift | None = None
    violations: Violations
    performance: Performance | None = None
    latency_ms_per_1000: float | None = None
    """Scoring time (read, checks, recipe, model) per 1,000 rows."""
    status: Status
    reasons: list[Reason] = Field(default_factory=list)
    recommendation: Decision | None = None
    recommendation_text: str = ""
    top_features: list[str] = Field(default_factory=list)
    """The drifted features, most severe first (at most ten)."""
    importance: dict[str, float] = Field(default_factory=dict)
    seconds: float = 0.0
    shadow: ShadowResult | None = None
    """The shadow challenger on this batch's labelled rows, when one was being shadowed."""


class MonitorBatch(BaseModel):
    """One stored batch."""

    id: int
    name: str
    source: str
    file_hash: str | None = None
    bundle_version: int
    created_at: datetime | None = None
    n_rows: int
    n_scored: int
    n_rejected: int
    status: Status
    drifted_share: float | None = None
    key_column: str | None = None
    decision: Decision | None = None
    decision_note: str | None = None
    decided_at: datetime | None = None
    report: BatchReport

    def summary(self) -> dict[str, Any]:
        """The timeline row: what the CLI list and the screen's table show."""
        perf = self.report.performance
        return {
            "id": self.id,
            "name": self.name,
            "rows": self.n_rows,
            "rejected": self.n_rejected,
            "status": self.status.value,
            "drifted_share": self.drifted_share,
            "drifted": self.report.drift.n_drifted,
            "assessed": self.report.drift.n_assessed,
            "metric": perf.metric if perf else None,
            "value": perf.value if perf else None,
            "low": perf.low if perf else None,
            "high": perf.high if perf else None,
            "latency_ms_per_1000": self.report.latency_ms_per_1000,
            "decision": self.decision.value if self.decision else None,
            "created_at": self.created_at,
        }
