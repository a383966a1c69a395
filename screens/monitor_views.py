"""Light read models of stored monitoring batches, for the Monitor screen.

The stored batch reports are ``app.domain.monitor`` models, but that module imports the drift
service (scipy) and through it the bundle service (scikit-learn): seconds of import time on
a cold start, before the screen could list a single batch. These models mirror the fields the
screen shows and parse the same stored JSON (other fields are ignored), so reading needs only
the storage layer. The Pilot tests compare what the screen shows with the service's models,
so a change of the stored shape shows up there.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    ALERT = "alert"


class Decision(StrEnum):
    RETRAIN = "retrain"
    INSPECT = "inspect"
    ACCEPT = "accept"


class StatisticView(_View):
    name: str
    label: str
    value: float | None
    threshold: float | None = None
    decisive: bool = False
    exceeded: bool = False


class HistogramView(_View):
    kind: str
    labels: list[str]
    counts: list[int]
    baseline_counts: list[int]
    unseen_levels: dict[str, int] = Field(default_factory=dict)


class FeatureView(_View):
    name: str
    kind: str
    missing_rate: float | None
    baseline_missing_rate: float
    histogram: HistogramView | None
    statistics: dict[str, StatisticView]
    assessed: bool
    drifted: bool
    severity: float
    method: str
    note: str | None = None


class DriftView(_View):
    n_rows: int
    features: list[FeatureView]
    n_assessed: int
    n_drifted: int
    drifted_share: float | None
    weighted_drifted_share: float | None = None
    method: str


class ColumnViolationsView(_View):
    column: str
    type_failures: int = 0
    missing_not_allowed: int = 0
    out_of_range: int = 0
    unseen: int = 0
    missing_rate: float | None = None
    baseline_missing_rate: float | None = None

    @property
    def total(self) -> int:
        return self.type_failures + self.missing_not_allowed + self.out_of_range + self.unseen


class ViolationsView(_View):
    missing_columns: list[str] = Field(default_factory=list)
    extra_columns: list[str] = Field(default_factory=list)
    columns: list[ColumnViolationsView] = Field(default_factory=list)
    rejected_rows: int = 0
    other_rejects: int = 0


class PerformanceView(_View):
    metric: str
    label: str
    higher_is_better: bool
    value: float | None
    low: float | None = None
    high: float | None = None
    n_labelled: int
    baseline: float | None = None
    threshold: float
    meets_threshold: bool | None = None


class ReasonView(_View):
    status: Status
    text: str


class ReportView(_View):
    drift: DriftView
    prediction_drift: FeatureView | None = None
    violations: ViolationsView
    performance: PerformanceView | None = None
    latency_ms_per_1000: float | None = None
    status: Status
    reasons: list[ReasonView] = Field(default_factory=list)
    recommendation: Decision | None = None
    recommendation_text: str = ""
    top_features: list[str] = Field(default_factory=list)
    shadow: dict[str, Any] | None = None
    """The shadowed challenger's result (``ShadowResult``), parsed only to word it."""


class BatchView(_View):
    """One stored batch, as the screen shows it."""

    id: int
    name: str
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
    report: ReportView


COLUMNS = (
    "id, name, bundle_version, created_at, n_rows, n_scored, n_rejected, status, "
    "drifted_share, key_column, decision, decision_note, decided_at, body"
)


def batch_view(row: tuple[Any, ...]) -> BatchView:
    """A ``monitor_batches`` row (``COLUMNS``) as a view."""
    names = [c.strip() for c in COLUMNS.split(",")]
    data = dict(zip(names, row, strict=True))
    body = data.pop("body")
    data["report"] = ReportView.model_validate_json(body) if isinstance(body, str) else body
    return BatchView.model_validate(data)
