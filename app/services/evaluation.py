"""The Evaluate stage: a run's model on the locked holdout, with intervals and the gate.

Point metrics come from scikit-learn on the holdout predictions; every interval is a seeded,
vectorised bootstrap over holdout rows (``bootstrap``), and the baseline (a dummy fitted on the
training part) is scored on the same resamples, so "beats the baseline" is a paired test.
Binary models use a decision threshold: given, stored from an earlier evaluation, tuned on
out-of-fold predictions of the training part (never on the holdout it is then judged on), or
0.5. The gate compares the primary metric's interval with the charter's threshold, checks the
baseline and every secondary constraint, and says where to go back to when it fails.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.base import clone
from sklearn.calibration import calibration_curve
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.inspection import permutation_importance
from threadpoolctl import threadpool_limits

from app.domain.charter import Charter
from app.domain.evaluation import (
    CONFIDENCE,
    DEFAULT_RESAMPLES,
    IMPORTANCE_REPEATS,
    IMPORTANCE_ROWS,
    LATENCY_CALLS,
    OVERFIT_GAP,
    SEGMENT_MIN_ROWS,
    SEGMENT_RESAMPLES,
    CurvePoint,
    Evaluation,
    GateCheck,
    GateDecision,
    GateOutcome,
    Importance,
    Interval,
    Latency,
    MetricResult,
    Pointer,
    SegmentResult,
)
from app.domain.metrics import LATENCY_METRIC, METRICS, Direction, TaskType
from app.domain.training import CANDIDATES, Run
from app.errors import MlwbError
from app.services import bootstrap as bs
from app.services import browse
from app.services import models as model_service
from app.services import training as tr
from app.services.features import FeatureSet
from storage import repositories as repo
from storage import training as store_runs
from storage.db import ProjectStore

Progress = Callable[[float, str], None]
Stop = Callable[[], bool]

CURVE_POINTS = 200
"""Curves are thinned to about this many points (plenty for a terminal plot)."""
SCATTER_POINTS = 2_000
"""Residual plots use a seeded sample of at most this many holdout rows."""
THRESHOLD_GRID = 199
"""Decision thresholds tried when tuning (0.005 … 0.995)."""
CLASSIFICATION_EXTRA = ("error_rate", "brier")


class EvaluationCancelled(MlwbError):
    """The user stopped the evaluation; nothing was stored."""


def _nothing(fraction: float, text: str) -> None:
    """A progress callback that ignores reports."""


def _never() -> bool:
    return False


# -- predictions ------------------------------------------------------------------------------


class Scored:
    """Holdout predictions of a model: labels at the threshold, probabilities, values."""

    def __init__(
        self,
        task: TaskType,
        y: np.ndarray,
        model: Any,
        X: pd.DataFrame,
        positive: str | None,
        threshold: float | None,
    ) -> None:
        self.task = task
        self.y = y
        self.positive = positive
        self.threshold = threshold
        self.classes: np.ndarray | None = None
        self.proba: np.ndarray | None = None
        self.score: np.ndarray | None = None
        if task is TaskType.REGRESSION:
            self.values = np.asarray(model.predict(X), dtype=np.float64)
            self.labels = self.values
            return
        self.classes = np.asarray(model.classes_).astype(str)
        if hasattr(model, "predict_proba"):
            self.proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        if task is TaskType.BINARY:
            column = int(np.flatnonzero(self.classes == positive)[0])
            if self.proba is not None:
                self.score = self.proba[:, column]
            else:
                raw = np.asarray(model.decision_function(X), dtype=np.float64)
                self.score = raw if column == 1 else -raw
            cut = 0.5 if threshold is None else threshold
            if self.proba is None:
                cut = 0.0 if threshold is None else threshold
            negative = self.classes[1 - column]
            self.labels = np.where(self.score >= cut, positive, negative)
        else:
            assert self.proba is not None
            self.labels = self.classes[np.argmax(self.proba, axis=1)]

    @classmethod
    def from_predictions(
        cls,
        task: TaskType,
        y: np.ndarray,
        labels: np.ndarray,
        score: np.ndarray | None,
        classes: np.ndarray | None,
        positive: str | None,
        threshold: float | None,
    ) -> Scored:
        """Rows scored elsewhere (a monitored batch): labels, and the positive-class
        probability (binary) or the predicted value (regression) as ``score``."""
        s = cls.__new__(cls)
        s.task, s.y, s.positive, s.threshold = task, y, positive, threshold
        s.classes, s.proba, s.score = classes, None, None
        if task is TaskType.REGRESSION:
            assert score is not None
            s.values = np.asarray(score, dtype=np.float64)
            s.labels = s.values
            return s
        s.labels = np.asarray(labels).astype(str)
        if task is TaskType.BINARY and score is not None and classes is not None:
            s.score = np.asarray(score, dtype=np.float64)
            if np.all((s.score >= 0) & (s.score <= 1)):
                column = int(np.flatnonzero(classes == positive)[0])
                proba = np.empty((len(s.score), 2))
                proba[:, column] = s.score
                proba[:, 1 - column] = 1 - s.score
                s.proba = proba
        return s

    @property
    def truth(self) -> np.ndarray:
        """Boolean: the row is of the positive class (binary)."""
        return self.y.astype(str) == str(self.positive)


def point_metrics(s: Scored, only: str | None = None) -> dict[str, float | None]:
    """Every metric (or ``only`` that one) on these rows, computed by scikit-learn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _point_metrics(s, only)


def _point_metrics(s: Scored, only: str | None) -> dict[str, float | None]:
    y = s.y
    out: dict[str, float | None] = {}

    def safe(name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        if only is not None and name != only and not (only == "error_rate" and name == "accuracy"):
            return
        try:
            value = float(fn(*args, **kw))
        except ValueError:
            value = float("nan")
        out[name] = value if math.isfinite(value) else None

    if s.task is TaskType.REGRESSION:
        nonzero = y != 0
        if len(y) and np.all(y == y[0]) and only in (None, "r2"):
            out["r2"] = None
        safe("mae", skm.mean_absolute_error, y, s.values)
        safe("rmse", skm.root_mean_squared_error, y, s.values)
        if "r2" not in out:
            safe("r2", skm.r2_score, y, s.values)
        if nonzero.any():
            safe("mape", skm.mean_absolute_percentage_error, y[nonzero], s.values[nonzero])
        elif only in (None, "mape"):
            out["mape"] = None
        safe("median_ae", skm.median_absolute_error, y, s.values)
        return out
    labels = s.labels
    if s.task is TaskType.BINARY:
        kw: dict[str, Any] = {"pos_label": s.positive, "zero_division": 0}
    else:
        kw = {"average": "macro", "zero_division": 0}
    safe("accuracy", skm.accuracy_score, y, labels)
    if "accuracy" in out:
        out["error_rate"] = None if out["accuracy"] is None else 1 - out["accuracy"]
    safe("balanced_accuracy", skm.balanced_accuracy_score, y, labels)
    safe("precision", skm.precision_score, y, labels, **kw)
    safe("recall", skm.recall_score, y, labels, **kw)
    safe("f1", skm.f1_score, y, labels, **kw)
    safe("mcc", skm.matthews_corrcoef, y, labels)
    if s.task is TaskType.BINARY:
        assert s.score is not None
        truth = s.truth
        if truth.any() and not truth.all():
            safe("roc_auc", skm.roc_auc_score, truth, s.score)
        elif only in (None, "roc_auc"):
            out["roc_auc"] = None
        if truth.any():
            safe("pr_auc", skm.average_precision_score, truth, s.score)
        else:
            # Recall and PR-AUC need positive rows.
            for name in ("pr_auc", "recall"):
                if only in (None, name):
                    out[name] = None
    elif s.proba is not None and s.classes is not None:
        if np.isin(s.classes, y).all():
            safe("roc_auc", skm.roc_auc_score, y, s.proba, multi_class="ovr", labels=s.classes)
        elif only in (None, "roc_auc"):
            out["roc_auc"] = None
    if s.proba is not None and s.classes is not None:
        safe("log_loss", skm.log_loss, y, s.proba, labels=s.classes)
        if s.task is TaskType.BINARY:
            assert s.score is not None
            safe("brier", skm.brier_score_loss, s.truth, s.score)
    return out


def bootstrap_fns(s: Scored) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """f(counts) -> every metric per resample, for these predictions."""
    y = s.y
    if s.task is TaskType.REGRESSION:
        return lambda C: bs.regression_metrics(C, y.astype(np.float64), s.values)
    if s.task is TaskType.BINARY:
        truth = s.truth
        predicted = s.labels == s.positive
        assert s.score is not None

        def binary(C: np.ndarray) -> dict[str, np.ndarray]:
            out = bs.binary_label_metrics(C, truth, predicted)
            out.update(bs.ranking_metrics(C, truth, s.score))  # type: ignore[arg-type]
            if s.proba is not None:
                p = s.score
                assert p is not None
                out.update(bs.probability_metrics(C, truth, np.where(truth, p, 1 - p), p))
            return out

        return binary
    assert s.classes is not None
    classes = s.classes
    y_str = y.astype(str)
    labels = s.labels.astype(str)

    def multi(C: np.ndarray) -> dict[str, np.ndarray]:
        out = bs.multiclass_metrics(C, y_str, labels, classes)
        if s.proba is not None:
            out["roc_auc"] = bs.multiclass_auc(C, y_str, s.proba, classes)
            index = {k: i for i, k in enumerate(classes)}
            true_col = np.array([index.get(v, -1) for v in y_str])
            # A class the model never saw has probability 0 (the largest loss after clipping).
            p_true = np.where(
                true_col >= 0, s.proba[np.arange(len(y_str)), np.maximum(true_col, 0)], 0.0
            )
            out.update(bs.probability_metrics(C, y_str == y_str, p_true, None))
        return out

    return multi


def metric_label(name: str) -> str:
    """A metric's display name (extra evaluation metrics included)."""
    if name in METRICS:
        return METRICS[name].label
    return {"error_rate": "Error rate", "brier": "Brier score"}.get(name, name)


def higher_is_better(name: str) -> bool:
    """Direction of a metric (evaluation extras included)."""
    if name in METRICS:
        return METRICS[name].direction is Direction.MAXIMIZE
    return name not in {"error_rate", "brier"}


# -- thresholds -------------------------------------------------------------------------------


def threshold_curve(
    truth: np.ndarray, score: np.ndarray, names: list[str]
) -> dict[str, np.ndarray]:
    """Label metrics at each threshold of the grid (predicted positive when score >= t)."""
    grid = np.linspace(0.005, 0.995, THRESHOLD_GRID)
    rows: dict[str, list[float]] = {n: [] for n in names}
    for t in grid:
        found = bs.metrics_from_confusion(*bs.confusion_counts(truth, score >= t))
        for n in names:
            rows[n].append(float(found[n][0]))
    return {"threshold": grid, **{n: np.asarray(v) for n, v in rows.items()}}


def _label_metric(name: str) -> bool:
    return name in {
        "accuracy",
        "error_rate",
        "precision",
        "recall",
        "f1",
        "balanced_accuracy",
        "mcc",
    }


def tune_threshold(truth: np.ndarray, score: np.ndarray, charter: Charter) -> tuple[float, str]:
    """The threshold maximising the primary metric subject to the charter's label-metric
    constraints (on out-of-fold predictions); with no feasible threshold, the one that
    violates the constraints least."""
    primary = charter.primary_metric
    constraints = [c for c in charter.constraints if _label_metric(c.metric)]
    names = sorted({primary, *(c.metric for c in constraints)} & set(_LABEL_NAMES))
    if primary not in _LABEL_NAMES:
        return 0.5, f"{primary} does not depend on the threshold; 0.5 kept"
    curve = threshold_curve(truth, score, names)
    sign = 1 if higher_is_better(primary) else -1
    feasible = np.ones(len(curve["threshold"]), dtype=bool)
    shortfall = np.zeros(len(curve["threshold"]))
    for c in constraints:
        values = curve[c.metric]
        gap = (c.value - values) if c.bound == ">=" else (values - c.value)
        feasible &= gap <= 0
        shortfall += np.clip(gap, 0, None)
    if feasible.any():
        objective = np.where(feasible, sign * curve[primary], -np.inf)
        best = int(np.argmax(objective))
        text = "maximises " + primary
        if constraints:
            text += " subject to " + ", ".join(c.text() for c in constraints)
    else:
        best = int(np.argmin(shortfall))
        text = "no threshold meets " + ", ".join(c.text() for c in constraints)
        text += "; this one misses them least"
    return float(round(curve["threshold"][best], 3)), text


_LABEL_NAMES = ("accuracy", "error_rate", "precision", "recall", "f1", "balanced_accuracy", "mcc")


def out_of_fold_scores(
    store: ProjectStore, run: Run, data: tr.TrainData | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Positive-class scores of the training part predicted by models that did not see them
    (the run's folds), and whether each row is positive."""
    from app.services.features import build_pipeline

    version = browse.get_version(store, run.dataset, run.version)
    data = data or tr.load_training(store, run.cv, run.seed, version)
    spec = CANDIDATES[run.candidate]
    template = build_pipeline(spec, run.params, data.task, run.seed, data.features)
    scores = np.full(len(data.y), np.nan)
    for i, (train_idx, valid_idx) in enumerate(data.folds):
        used = tr.subsample_rows(train_idx, spec.row_limit, run.seed + i)
        model = clone(template)
        model.fit(data.X.iloc[used], data.y[used])
        s = Scored(data.task, data.y[valid_idx], model, data.X.iloc[valid_idx], data.positive, None)
        scores[valid_idx] = s.score  # type: ignore[assignment]
    seen = ~np.isnan(scores)
    truth = data.y.astype(str) == str(data.positive)
    return scores[seen], truth[seen]


# -- evaluation --------------------------------------------------------------------------------


def _interval(values: np.ndarray, point: float | None, note: str = "") -> Interval:
    low, high = bs.percentile_interval(values, CONFIDENCE)
    if point is None:
        return Interval(value=None, note=note)
    return Interval(value=point, low=low, high=high, note=note)


def _undefined_note(name: str, s: Scored) -> str:
    if name in {"roc_auc", "pr_auc", "recall"} and s.task.is_classification:
        present = np.unique(s.y.astype(str))
        if len(present) < 2:
            return f"undefined: the holdout holds one class only ({str(present[0])!r})"
        if s.task is TaskType.BINARY and not s.truth.any():
            return f"undefined: the holdout has no {s.positive!r} rows"
        if s.task is TaskType.MULTICLASS:
            return "undefined: some classes are absent from the holdout"
    if name == "log_loss" and s.proba is None:
        return "undefined: the model gives no probabilities"
    if name == "brier" and s.proba is None:
        return "undefined: the model gives no probabilities"
    if name == "mape":
        return "undefined: every actual value is zero"
    if name == "r2":
        return "undefined: the target is constant in the holdout"
    return "undefined on these rows"


def _baseline(data_y: np.ndarray, task: TaskType, X: pd.DataFrame) -> Any:
    """The dummy baseline fitted on the training target only."""
    model = DummyRegressor(strategy="mean") if task is TaskType.REGRESSION else DummyClassifier()
    model.fit(np.zeros((len(data_y), 1)), data_y)

    class _Wrapped:
        classes_ = getattr(model, "classes_", None)

        def predict(self, X: Any) -> Any:
            return model.predict(np.zeros((len(X), 1)))

        def predict_proba(self, X: Any) -> Any:
            return model.predict_proba(np.zeros((len(X), 1)))

    return _Wrapped()


def _latency(model: Any, X: pd.DataFrame, task: TaskType, seed: int) -> Latency:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(X), size=min(LATENCY_CALLS, len(X)))
    times = []
    predict = (
        model.predict_proba
        if task.is_classification and hasattr(model, "predict_proba")
        else model.predict
    )
    # One row is served on one thread: thread pools only add start-up cost at this size.
    with threadpool_limits(limits=1):
        predict(X.iloc[[int(rows[0])]])  # warm-up
        for r in rows:
            one = X.iloc[[int(r)]]
            t0 = time.perf_counter()
            predict(one)
            times.append((time.perf_counter() - t0) * 1000)
    batch = X.iloc[: min(len(X), 10_000)]
    t0 = time.perf_counter()
    predict(batch)
    per_row = (time.perf_counter() - t0) * 1000 / max(1, len(batch))
    return Latency(
        single_p50_ms=float(np.percentile(times, 50)),
        single_p95_ms=float(np.percentile(times, 95)),
        batch_ms_per_row=per_row,
        batch_rows=len(batch),
    )


def _thin(points: list[CurvePoint]) -> list[CurvePoint]:
    if len(points) <= CURVE_POINTS:
        return points
    keep = np.unique(np.linspace(0, len(points) - 1, CURVE_POINTS).astype(int))
    return [points[i] for i in keep]


def _curves(
    s: Scored, seed: int, charter: Charter
) -> tuple[dict[str, list[CurvePoint]], dict[str, list[float]]]:
    curves: dict[str, list[CurvePoint]] = {}
    histogram: dict[str, list[float]] = {}
    if s.task is TaskType.BINARY and s.score is not None and len(np.unique(s.truth)) == 2:
        fpr, tpr, thr = skm.roc_curve(s.truth, s.score)
        curves["roc"] = _thin(
            [
                CurvePoint(x=float(a), y=float(b), threshold=_finite(t))
                for a, b, t in zip(fpr, tpr, thr, strict=True)
            ]
        )
        precision, recall, thr = skm.precision_recall_curve(s.truth, s.score)
        curves["pr"] = _thin(
            [
                CurvePoint(x=float(r), y=float(p), threshold=_finite(t) if i < len(thr) else None)
                for i, (p, r, t) in enumerate(zip(precision, recall, [*thr, np.nan], strict=True))
            ]
        )
        if s.proba is not None:
            prob_true, prob_pred = calibration_curve(
                s.truth, s.score, n_bins=10, strategy="quantile"
            )
            curves["calibration"] = [
                CurvePoint(x=float(a), y=float(b))
                for a, b in zip(prob_pred, prob_true, strict=True)
            ]
        names = sorted({charter.primary_metric, "precision", "recall", "f1"} & set(_LABEL_NAMES))
        grid = threshold_curve(s.truth, s.score, names)
        metric = charter.primary_metric if charter.primary_metric in names else "f1"
        curves["threshold"] = [
            CurvePoint(x=float(t), y=float(v), threshold=float(t))
            for t, v in zip(grid["threshold"], grid[metric], strict=True)
        ][::2]
    if s.task is TaskType.REGRESSION:
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(s.y), size=min(SCATTER_POINTS, len(s.y)), replace=False)
        residual = s.y - s.values
        curves["residuals"] = [CurvePoint(x=float(s.values[i]), y=float(residual[i])) for i in idx]
        curves["actual_vs_predicted"] = [
            CurvePoint(x=float(s.values[i]), y=float(s.y[i])) for i in idx
        ]
        counts, edges = np.histogram(residual, bins="fd" if len(residual) > 1 else 1)
        if len(counts) > 60:
            counts, edges = np.histogram(residual, bins=60)
        histogram = {"edges": [float(e) for e in edges], "counts": [float(c) for c in counts]}
    return curves, histogram


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def default_segment_columns(X: pd.DataFrame, features: FeatureSet, most: int = 2) -> list[str]:
    """Categorical features with 2–20 levels in the holdout (at most ``most``)."""
    levels = {c: X[c].nunique() for c in features.categorical}
    fitting = sorted((n, c) for c, n in levels.items() if 2 <= n <= 20)
    return [c for _, c in fitting[:most]]


def _segments(
    s: Scored, X: pd.DataFrame, columns: list[str], primary: str, seed: int
) -> list[SegmentResult]:
    out: list[SegmentResult] = []
    fn = bootstrap_fns
    for column in columns:
        if column not in X.columns:
            raise MlwbError(
                f"{column!r} is not an input column of this model",
                hint="pick segment columns among: " + ", ".join(map(str, X.columns[:20])),
            )
        values = X[column]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 10:
            binned = pd.qcut(values, q=4, duplicates="drop")
            keys = binned.astype(str).to_numpy()
        else:
            keys = values.astype(str).to_numpy()
        for key in pd.unique(keys):
            mask = keys == key
            n = int(mask.sum())
            sub = _subset(s, mask)
            point = point_metrics(sub, primary).get(primary)
            if s.task is TaskType.BINARY and primary in _NEEDS_POSITIVES and not sub.truth.any():
                out.append(
                    SegmentResult(
                        column=column,
                        value=str(key),
                        n=n,
                        metric=Interval(value=None, note=f"no {s.positive!r} rows here"),
                    )
                )
                continue
            if n >= SEGMENT_MIN_ROWS and point is not None:
                boot = bs.bootstrap(n, SEGMENT_RESAMPLES, seed, {"m": fn(sub)})["m"][primary]
                interval = _interval(boot, point)
            else:
                interval = Interval(
                    value=point,
                    note=f"fewer than {SEGMENT_MIN_ROWS} rows: no interval"
                    if n < SEGMENT_MIN_ROWS
                    else "undefined on this segment",
                )
            out.append(SegmentResult(column=column, value=str(key), n=n, metric=interval))
    sign = 1 if higher_is_better(primary) else -1
    # Worst first among segments with an interval; small and undefined ones after.
    out.sort(
        key=lambda r: (r.metric.value is None, r.metric.low is None, sign * (r.metric.value or 0))
    )
    return out


_NEEDS_POSITIVES = {"f1", "recall", "precision", "roc_auc", "pr_auc", "mcc"}


def _subset(s: Scored, mask: np.ndarray) -> Scored:
    sub = Scored.__new__(Scored)
    sub.task = s.task
    sub.y = s.y[mask]
    sub.positive = s.positive
    sub.threshold = s.threshold
    sub.classes = s.classes
    sub.proba = s.proba[mask] if s.proba is not None else None
    sub.score = s.score[mask] if s.score is not None else None
    sub.labels = s.labels[mask]
    if s.task is TaskType.REGRESSION:
        sub.values = s.values[mask]
    return sub


def _importance(
    model: Any, X: pd.DataFrame, y: np.ndarray, s: Scored, primary: str, seed: int
) -> tuple[list[Importance], int]:
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(X), size=min(IMPORTANCE_ROWS, len(X)), replace=False))
    Xs = X.iloc[rows]
    ys = y[rows]

    def scorer(estimator: Any, X_: Any, y_: Any) -> float:
        scored = Scored(s.task, np.asarray(y_), estimator, X_, s.positive, s.threshold)
        value = point_metrics(scored, primary).get(primary)
        if value is None:
            return float("nan")
        return value if higher_is_better(primary) else -value

    result = permutation_importance(
        model, Xs, ys, scoring=scorer, n_repeats=IMPORTANCE_REPEATS, random_state=seed, n_jobs=1
    )
    found = [
        Importance(feature=str(c), mean=float(m), std=float(sd))
        for c, m, sd in zip(X.columns, result.importances_mean, result.importances_std, strict=True)
    ]
    found.sort(key=lambda i: i.mean, reverse=True)
    return found, len(rows)


def evaluate(
    store: ProjectStore,
    run_id: int | None = None,
    threshold: float | None = None,
    tune: bool = False,
    segments: list[str] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    importance: bool = True,
    on_progress: Progress | None = None,
    should_stop: Stop | None = None,
) -> Evaluation:
    """Evaluate run ``run_id`` (the chosen run by default) on its version's holdout, decide
    the gate and store both (one transaction, with an event)."""
    # Matrix-vector products on a few thousand rows only lose time to BLAS thread start-up.
    with threadpool_limits(limits=1, user_api="blas"):
        return _evaluate(
            store,
            run_id,
            threshold,
            tune,
            segments,
            resamples,
            seed,
            importance,
            on_progress,
            should_stop,
        )


def _evaluate(
    store: ProjectStore,
    run_id: int | None,
    threshold: float | None,
    tune: bool,
    segments: list[str] | None,
    resamples: int,
    seed: int,
    importance: bool,
    on_progress: Progress | None,
    should_stop: Stop | None,
) -> Evaluation:
    report = on_progress or _nothing
    stop = should_stop or _never
    started = time.perf_counter()
    if resamples < 100 or resamples > 100_000:
        raise MlwbError("resamples must be between 100 and 100,000", hint="the default is 1,000")
    if threshold is not None and not 0 < threshold < 1:
        raise MlwbError(
            f"the decision threshold must be between 0 and 1, not {threshold}",
            hint="e.g. --threshold 0.4",
        )
    run = _pick_run(store, run_id)
    report(0.02, f"loading the model of run {run.id}")
    with store.connect() as con:
        record = store_runs.get_model(con, run.id)
    if record is None:
        report(0.05, f"run {run.id} has no stored model: refitting it on the training part")
        model_service.choose(store, run.id)
        with store.connect() as con:
            record = store_runs.get_model(con, run.id)
        assert record is not None
    model = model_service.load_model(store.root / record["path"], record["sha256"])
    charter_version = tr.current_charter(store)
    charter = charter_version.charter
    task = TaskType(record["task"])
    notes: list[str] = []
    if charter.task is not task:
        raise MlwbError(
            f"the charter's task is now {charter.task.label}, but run {run.id} is a "
            f"{task.label} model",
            hint="train again under the current charter (mlwb train)",
        )
    if run.charter_version is not None and run.charter_version != charter_version.version:
        notes.append(
            f"the charter changed since training (v{run.charter_version} → "
            f"v{charter_version.version}): judged against v{charter_version.version}"
        )
    version = browse.get_version(store, run.dataset, run.version)
    features = FeatureSet.from_record(record)
    X, y = tr.load_part(store, version, features, task, holdout=True)
    if len(y) == 0:
        raise MlwbError(f"the holdout of {version.ref} is empty", hint="import more data")
    positive = record.get("positive_class")
    if task is TaskType.BINARY and str(positive) not in set(y.astype(str)):
        notes.append(f"the holdout has no {positive!r} rows: recall and ROC-AUC are undefined")
    # The decision threshold.
    source = ""
    if (
        task is TaskType.BINARY
        and (threshold is not None or tune)
        and not hasattr(model, "predict_proba")
    ):
        raise MlwbError(
            f"run {run.id} ({run.label}) gives no probabilities, so it has no 0–1 decision "
            "threshold to set or tune",
            hint="evaluate it without --threshold/--tune, or choose a model with probabilities",
        )
    if task is TaskType.BINARY:
        if threshold is not None:
            source = "given"
        elif tune:
            report(0.1, "tuning the threshold on out-of-fold predictions of the training part")
            scores, truth = out_of_fold_scores(store, run)
            threshold, source = tune_threshold(truth, scores, charter)
            source = f"tuned on out-of-fold predictions ({source})"
        elif record.get("threshold") is not None:
            threshold = float(record["threshold"])
            source = "stored with the model"
        else:
            threshold = 0.5 if hasattr(model, "predict_proba") else None
            source = "default"
    if stop():
        raise EvaluationCancelled("evaluation cancelled; nothing was stored")
    report(0.3, f"predicting {len(y):,} holdout rows")
    scored = Scored(task, y, model, X, positive, threshold)
    train_X, train_y = tr.load_part(store, version, features, task, holdout=False)
    baseline_model = _baseline(train_y, task, train_X)
    base = Scored(task, y, baseline_model, X, positive, 0.5 if task is TaskType.BINARY else None)
    del train_X
    points = point_metrics(scored)
    base_points = point_metrics(base)
    report(0.4, f"bootstrapping {resamples:,} resamples")
    boot = bs.bootstrap(
        len(y), resamples, seed, {"model": bootstrap_fns(scored), "base": bootstrap_fns(base)}
    )
    if stop():
        raise EvaluationCancelled("evaluation cancelled; nothing was stored")
    results = []
    for name, value in points.items():
        model_values = boot["model"].get(name, np.array([]))
        base_values = boot["base"].get(name, np.array([]))
        note = "" if value is not None else _undefined_note(name, scored)
        m_int = _interval(model_values, value, note)
        b_point = base_points.get(name)
        b_int = _interval(base_values, b_point) if b_point is not None else None
        diff = None
        better = None
        if (
            value is not None
            and b_point is not None
            and len(model_values) == len(base_values)
            and len(model_values)
        ):
            d = model_values - base_values
            diff = _interval(d, value - b_point)
            if diff.low is not None and diff.high is not None:
                better = diff.low > 0 if higher_is_better(name) else diff.high < 0
        results.append(
            MetricResult(
                name=name,
                label=metric_label(name),
                model=m_int,
                baseline=b_int,
                difference=diff,
                better=better,
            )
        )
    report(0.6, "curves and segments")
    curves, histogram = _curves(scored, seed, charter)
    segment_columns = segments if segments is not None else default_segment_columns(X, features)
    segment_results = _segments(scored, X, segment_columns, charter.primary_metric, seed)
    confusion: list[list[int]] = []
    classes: list[str] = []
    per_class: dict[str, dict[str, float]] = {}
    if task.is_classification:
        classes = [str(c) for c in (scored.classes if scored.classes is not None else [])]
        confusion = skm.confusion_matrix(
            y.astype(str), scored.labels.astype(str), labels=classes
        ).tolist()
        p, r, f, sup = skm.precision_recall_fscore_support(
            y.astype(str), scored.labels.astype(str), labels=classes, zero_division=0
        )
        per_class = {
            c: {
                "precision": float(p[i]),
                "recall": float(r[i]),
                "f1": float(f[i]),
                "support": float(sup[i]),
            }
            for i, c in enumerate(classes)
        }
        if task is TaskType.MULTICLASS:
            weighted = skm.f1_score(
                y.astype(str), scored.labels.astype(str), average="weighted", zero_division=0
            )
            notes.append(f"weighted F1 {weighted:.4f} (macro F1 is the one in the table)")
    if stop():
        raise EvaluationCancelled("evaluation cancelled; nothing was stored")
    importances: list[Importance] = []
    importance_rows = 0
    if (
        importance
        and charter.primary_metric in points
        and points[charter.primary_metric] is not None
    ):
        report(0.7, "permutation importance")
        importances, importance_rows = _importance(
            model, X, y, scored, charter.primary_metric, seed
        )
    coefficients: list[dict[str, Any]] = []
    if CANDIDATES[run.candidate].family == "statsmodels":
        from app.services.sm_estimators import coefficient_table

        try:
            coefficients = coefficient_table(model)
        except (TypeError, ValueError) as exc:
            notes.append(f"no coefficient table: {exc}")
    report(0.9, "timing predictions")
    latency = _latency(model, X, task, seed)
    evaluation = Evaluation(
        run_id=run.id,
        candidate=run.candidate,
        label=run.label,
        charter_version=charter_version.version,
        trained_charter_version=run.charter_version,
        dataset=run.dataset,
        version=run.version,
        task=task.value,
        target=features.target,
        positive_class=positive,
        n_holdout=len(y),
        threshold=threshold,
        threshold_source=source,
        primary=charter.primary_metric,
        resamples=resamples,
        seed=seed,
        metrics=results,
        per_class=per_class,
        confusion=confusion,
        classes=classes,
        curves=curves,
        histogram=histogram,
        segments=segment_results,
        importance=importances,
        importance_rows=importance_rows,
        coefficients=coefficients,
        latency=latency,
        cv_primary=run.mean.get(charter.primary_metric),
        gate=GateDecision(outcome=GateOutcome.TOO_CLOSE, checks=[], summary=""),
        notes=notes,
        created_at=datetime.now(UTC),
    )
    evaluation.gate = decide(evaluation, charter)
    evaluation.seconds = time.perf_counter() - started
    if stop():
        raise EvaluationCancelled("evaluation cancelled; nothing was stored")
    with store.transaction() as con:
        evaluation.id = store_runs.insert_evaluation(con, evaluation)
        if task is TaskType.BINARY and threshold is not None:
            store_runs.update_model_body(
                con, run.id, {"threshold": threshold, "threshold_source": source}
            )
        repo.record_event(
            con,
            "evaluate",
            "gate_decided",
            f"run {run.id} ({run.label}) on {len(y):,} holdout rows: {evaluation.gate.outcome.label} "
            f"against charter v{charter_version.version} — {evaluation.gate.summary}"[:500],
            {
                "evaluation": evaluation.id,
                "run": run.id,
                "charter_version": charter_version.version,
                "outcome": evaluation.gate.outcome.value,
                "threshold": threshold,
                "checks": [c.model_dump() for c in evaluation.gate.checks],
            },
        )
    report(1.0, f"gate: {evaluation.gate.outcome.label}")
    return evaluation


def _pick_run(store: ProjectStore, run_id: int | None) -> Run:
    with store.connect() as con:
        if run_id is not None:
            run = store_runs.get_run(con, run_id)
            if run is None:
                raise MlwbError(f"there is no run {run_id}", hint="list runs with: mlwb runs list")
            return run
    chosen = model_service.chosen_run(store)
    if chosen is None:
        raise MlwbError(
            "no run is chosen for evaluation",
            hint="choose one (mlwb train --choose RUN) or name it (mlwb evaluate RUN)",
        )
    return chosen


# -- the gate ---------------------------------------------------------------------------------


def _meets(value: float, bound: str, limit: float) -> bool:
    return value >= limit if bound == ">=" else value <= limit


def decide(e: Evaluation, charter: Charter) -> GateDecision:
    """Pass, fail or too close to call, with every check and where to go back to."""
    checks: list[GateCheck] = []
    pointers: list[Pointer] = []
    primary = e.metric(charter.primary_metric)
    bound = METRICS[charter.primary_metric].default_bound
    rows_needed = None
    primary_state: bool | None
    if primary is None or primary.model.value is None:
        primary_state = False
        checks.append(
            GateCheck(
                name=f"{charter.primary_metric} {bound} {charter.threshold:g}",
                passed=False,
                detail=f"{charter.primary_metric} is undefined on the holdout"
                + (f" ({primary.model.note})" if primary else ""),
            )
        )
    else:
        v, lo, hi = primary.model.value, primary.model.low, primary.model.high
        lo = v if lo is None else lo
        hi = v if hi is None else hi
        ok_all = _meets(lo, bound, charter.threshold) and _meets(hi, bound, charter.threshold)
        bad_all = not _meets(lo, bound, charter.threshold) and not _meets(
            hi, bound, charter.threshold
        )
        primary_state = True if ok_all else (False if bad_all else None)
        detail = f"{v:.4f} (95% CI {lo:.4f} – {hi:.4f}) vs threshold {charter.threshold:g}: " + (
            "the whole interval clears it"
            if ok_all
            else "the whole interval misses it"
            if bad_all
            else "the interval straddles it"
        )
        checks.append(
            GateCheck(
                name=f"{charter.primary_metric} {bound} {charter.threshold:g}",
                passed=primary_state,
                detail=detail,
            )
        )
        if primary_state is None:
            half = (hi - lo) / 2
            margin = abs(v - charter.threshold)
            if margin > 0 and half > 0:
                rows_needed = int(math.ceil(e.n_holdout * (half / margin) ** 2))
    # Baseline.
    beats: bool | None = None
    if primary is not None and primary.difference is not None and primary.better is not None:
        d = primary.difference
        worse = (
            (d.high is not None and d.high <= 0)
            if higher_is_better(charter.primary_metric)
            else (d.low is not None and d.low >= 0)
        )
        state = True if primary.better else (False if worse else None)
        beats = state
        checks.append(
            GateCheck(
                name="beats the baseline",
                passed=state,
                detail=f"difference {d.value:+.4f} (95% CI {d.low:+.4f} – {d.high:+.4f}, paired bootstrap)",
            )
        )
        if state is False:
            pointers.append(
                Pointer(
                    stage="data",
                    reason="the model is no better than the dummy baseline: the features lack signal for this target — revisit Data and Explore (roles, leakage, missing values)",
                )
            )
    # Secondary constraints.
    constraint_failed = False
    for c in charter.constraints:
        if c.metric == LATENCY_METRIC:
            value = e.latency.single_p95_ms if e.latency else None
            detail_value = f"single-row p95 {value:.2f} ms" if value is not None else "not measured"
        else:
            m = e.metric(c.metric)
            value = m.model.value if m else None
            detail_value = f"{value:.4f}" if value is not None else "undefined"
            if m is not None and m.model.low is not None and value is not None:
                detail_value += f" (95% CI {m.model.low:.4f} – {m.model.high:.4f})"
        held = value is not None and _meets(value, c.bound, c.value)
        checks.append(GateCheck(name=c.text(), passed=held, detail=detail_value))
        if not held:
            constraint_failed = True
            if c.metric == LATENCY_METRIC:
                pointers.append(
                    Pointer(
                        stage="train",
                        reason=f"prediction is too slow ({detail_value}): pick a lighter model (fewer trees, linear) in Train",
                    )
                )
            elif c.metric in ("recall", "precision") and e.threshold is not None:
                direction = "lower" if c.metric == "recall" else "raise"
                pointers.append(
                    Pointer(
                        stage="evaluate",
                        reason=f"{c.metric} misses {c.value:g}: {direction} the decision threshold (now {e.threshold:g}) or tune it (t on the Evaluate screen, or mlwb evaluate --tune)",
                    )
                )
            else:
                pointers.append(
                    Pointer(
                        stage="train",
                        reason=f"{c.text()} does not hold ({detail_value}): try other candidates or a search in Train",
                    )
                )
    # Overfitting / a holdout unlike training.
    # Cross-validation scored labels at 0.5; compare only like with like.
    comparable_cv = e.threshold in (None, 0.5) or charter.primary_metric not in _LABEL_NAMES
    if (
        comparable_cv
        and primary is not None
        and e.cv_primary is not None
        and primary.model.value is not None
    ):
        gap = (e.cv_primary - primary.model.value) * (
            1 if higher_is_better(charter.primary_metric) else -1
        )
        outside = (
            primary.model.high is not None
            and primary.model.low is not None
            and not (primary.model.low <= e.cv_primary <= primary.model.high)
        )
        if gap > OVERFIT_GAP * max(1.0, abs(e.cv_primary)) and outside:
            pointers.append(
                Pointer(
                    stage="train",
                    reason=f"cross-validation promised {e.cv_primary:.4f} but the holdout gives {primary.model.value:.4f}: the model overfits or the holdout differs from training (drift over time?) — revisit Train (simpler model, more regularisation) or Data",
                )
            )
    # Segments far below the rest.
    if e.segments and primary is not None and primary.model.value is not None:
        worst = e.segments[0]
        w = worst.metric
        if w.value is not None and w.high is not None and w.low is not None:
            far = (
                w.high < primary.model.value
                if higher_is_better(charter.primary_metric)
                else w.low > primary.model.value
            )
            if far:
                pointers.append(
                    Pointer(
                        stage="data",
                        reason=f"{charter.primary_metric} on {worst.column} = {worst.value} ({worst.n:,} rows) is {w.value:.4f}, far from the overall {primary.model.value:.4f}: inspect the data for that group",
                    )
                )
    if primary_state is False and not pointers:
        pointers.append(
            Pointer(
                stage="train",
                reason=f"{charter.primary_metric} misses the charter's {charter.threshold:g}: try "
                "other candidates or a search in Train, better features in Data, or check in "
                "Problem whether the target is realistic",
            )
        )
    if beats is None and primary is not None and primary.difference is not None:
        pointers.append(
            Pointer(
                stage="data",
                reason="the model is not clearly better than the dummy baseline: the features "
                "carry little signal — revisit Data and Explore, or collect more holdout rows",
            )
        )
    if primary_state is False or constraint_failed or beats is False:
        outcome = GateOutcome.FAIL
    elif primary_state is True and beats is True:
        outcome = GateOutcome.PASS
    else:
        outcome = GateOutcome.TOO_CLOSE
    failed = [c.name for c in checks if c.passed is False]
    open_ = [c.name for c in checks if c.passed is None]
    if outcome is GateOutcome.PASS:
        summary = "every check holds"
    elif outcome is GateOutcome.FAIL:
        summary = "failed: " + "; ".join(failed)
    else:
        summary = "undecided: " + "; ".join(open_)
        if rows_needed:
            summary += f" — about {rows_needed:,} holdout rows (now {e.n_holdout:,}) would narrow the interval enough"
    return GateDecision(
        outcome=outcome, checks=checks, summary=summary, rows_needed=rows_needed, pointers=pointers
    )


def latest(store: ProjectStore, run_id: int | None = None) -> Evaluation | None:
    """The most recent stored evaluation (of ``run_id`` when given)."""
    with store.connect() as con:
        if repo.count_rows(con, "evaluations") is None:
            return None
        return store_runs.latest_evaluation(con, run_id)


def holdout_scores(store: ProjectStore, evaluation: Evaluation) -> tuple[np.ndarray, np.ndarray]:
    """Truth and positive-class scores of an evaluated binary run's stored model on its
    holdout (the model is loaded, not refitted; nothing is stored)."""
    with store.connect() as con:
        record = store_runs.get_model(con, evaluation.run_id)
    if record is None:
        raise MlwbError(
            f"run {evaluation.run_id} has no stored model to score the holdout with",
            hint="evaluate it again to refit it",
        )
    model = model_service.load_model(store.root / record["path"], record["sha256"])
    task = TaskType(evaluation.task)
    version = browse.get_version(store, evaluation.dataset, evaluation.version)
    X, y = tr.load_part(store, version, FeatureSet.from_record(record), task, holdout=True)
    scored = Scored(task, y, model, X, evaluation.positive_class, evaluation.threshold)
    assert scored.score is not None
    return scored.truth, scored.score
