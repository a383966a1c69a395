"""The catalogue of metrics a charter may name, with their direction and valid range.

The charter's primary metric sorts the leaderboard and sets the gate; its secondary
constraints bound other metrics (including prediction latency). Each metric knows which task
types it applies to so a charter cannot ask for RMSE on a classifier.
"""

from __future__ import annotations

import math
from enum import StrEnum

from pydantic import BaseModel


class TaskType(StrEnum):
    """The kind of supervised problem."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"

    @property
    def label(self) -> str:
        """A human name for the task type."""
        return {
            TaskType.BINARY: "binary classification",
            TaskType.MULTICLASS: "multiclass classification",
            TaskType.REGRESSION: "regression",
        }[self]

    @property
    def is_classification(self) -> bool:
        """True for binary and multiclass classification."""
        return self is not TaskType.REGRESSION


class Direction(StrEnum):
    """Whether larger or smaller values of a metric are better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class MetricSpec(BaseModel, frozen=True):
    """One metric: its name, meaning, direction, range and the tasks it fits."""

    name: str
    label: str
    direction: Direction
    lower: float
    upper: float
    tasks: frozenset[TaskType]
    description: str

    @property
    def default_bound(self) -> str:
        """The comparison a success threshold uses: ``>=`` when larger is better."""
        return ">=" if self.direction is Direction.MAXIMIZE else "<="

    def range_text(self) -> str:
        """The valid range, e.g. ``[0, 1]`` or ``[0, ∞)``."""
        lo = "-∞" if math.isinf(self.lower) else f"{self.lower:g}"
        hi = "∞" if math.isinf(self.upper) else f"{self.upper:g}"
        left = "(" if math.isinf(self.lower) else "["
        right = ")" if math.isinf(self.upper) else "]"
        return f"{left}{lo}, {hi}{right}"

    def in_range(self, value: float) -> bool:
        """Whether ``value`` is a possible value of this metric."""
        return self.lower <= value <= self.upper and not math.isnan(value)


_CLS = frozenset({TaskType.BINARY, TaskType.MULTICLASS})
_BIN = frozenset({TaskType.BINARY})
_REG = frozenset({TaskType.REGRESSION})
_ALL = frozenset(TaskType)
_INF = math.inf

LATENCY_METRIC = "latency_p95_ms"

METRICS: dict[str, MetricSpec] = {
    m.name: m
    for m in [
        MetricSpec(
            name="f1",
            label="F1",
            direction=Direction.MAXIMIZE,
            lower=0,
            upper=1,
            tasks=_CLS,
            description="Harmonic mean of precision and recall (macro average for multiclass).",
        ),
        MetricSpec(
            name="recall",
            label="Recall",
            direction=Direction.MAXIMIZE,
            lower=0,
            upper=1,
            tasks=_CLS,
            description="Share of actual positives the model finds (macro for multiclass).",
        ),
        MetricSpec(
            name="precision",
            label="Precision",
            direction=Direction.MAXIMIZE,
            lower=0,
            upper=1,
            tasks=_CLS,
            description="Share of predicted positives that are right (macro for multiclass).",
        ),
        MetricSpec(
            name="accuracy",
            label="Accuracy",
            direction=Direction.MAXIMIZE,
            lower=0,
            upper=1,
            tasks=_CLS,
            description="Share of rows classified correctly; misleading on imbalanced classes.",
        ),
        MetricSpec(
            name="balanced_accuracy",
            label="Balanced accuracy",
            direction=Direction.MAXIMIZE,
            lower=0,
            upper=1,
            tasks=_CLS,
            description="Mean recall over classes; robust to class imbalance.",
        ),
        MetricSpec(
            name="roc_auc",
            label="ROC-AUC",
            direction=Direction.MAXIMIZE,
            lower=0,
            upper=1,
            tasks=_CLS,
            description="How well scores rank positives above negatives (one-vs-rest).",
        ),
        MetricSpec(
            name="pr_auc",
            label="PR-AUC",
            direction=Direction.MAXIMIZE,
            lower=0,
            upper=1,
            tasks=_BIN,
            description="Area under the precision-recall curve; focuses on the positive class.",
        ),
        MetricSpec(
            name="log_loss",
            label="Log loss",
            direction=Direction.MINIMIZE,
            lower=0,
            upper=_INF,
            tasks=_CLS,
            description="Penalty for confident wrong probabilities; lower is better.",
        ),
        MetricSpec(
            name="mcc",
            label="Matthews correlation",
            direction=Direction.MAXIMIZE,
            lower=-1,
            upper=1,
            tasks=_CLS,
            description="Correlation between predicted and actual classes.",
        ),
        MetricSpec(
            name="mae",
            label="MAE",
            direction=Direction.MINIMIZE,
            lower=0,
            upper=_INF,
            tasks=_REG,
            description="Mean absolute error, in the target's units.",
        ),
        MetricSpec(
            name="rmse",
            label="RMSE",
            direction=Direction.MINIMIZE,
            lower=0,
            upper=_INF,
            tasks=_REG,
            description="Root mean squared error, in the target's units; punishes big misses.",
        ),
        MetricSpec(
            name="r2",
            label="R²",
            direction=Direction.MAXIMIZE,
            lower=-_INF,
            upper=1,
            tasks=_REG,
            description="Share of the target's variance explained (1 is perfect).",
        ),
        MetricSpec(
            name="mape",
            label="MAPE",
            direction=Direction.MINIMIZE,
            lower=0,
            upper=_INF,
            tasks=_REG,
            description="Mean absolute percentage error as a fraction (0.1 = 10 %).",
        ),
        MetricSpec(
            name="median_ae",
            label="Median absolute error",
            direction=Direction.MINIMIZE,
            lower=0,
            upper=_INF,
            tasks=_REG,
            description="Median absolute error; robust to a few large misses.",
        ),
        MetricSpec(
            name=LATENCY_METRIC,
            label="p95 prediction latency (ms)",
            direction=Direction.MINIMIZE,
            lower=0,
            upper=_INF,
            tasks=_ALL,
            description="95th percentile of single-row prediction time in milliseconds.",
        ),
    ]
}


def metrics_for(task: TaskType, *, include_latency: bool = False) -> list[MetricSpec]:
    """The metrics that fit ``task``, in catalogue order."""
    return [
        m
        for m in METRICS.values()
        if task in m.tasks and (include_latency or m.name != LATENCY_METRIC)
    ]
