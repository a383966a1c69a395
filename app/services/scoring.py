"""Every metric of a task, computed with scikit-learn from one set of predictions.

A fold is predicted once (probabilities where the model has them, else decision scores) and
all metrics are derived from that, so a leaderboard with ten metrics costs one prediction per
fold. Binary metrics use the charter's positive class. A metric that cannot be computed on
these rows (ROC-AUC with one class present, log loss without probabilities) is None.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from app.domain.metrics import TaskType, metrics_for
from app.services import bootstrap


@dataclass
class Predictions:
    """What a model said about some rows."""

    labels: np.ndarray
    proba: np.ndarray | None = None
    """Class probabilities, columns in ``classes`` order."""
    scores: np.ndarray | None = None
    """Decision scores for models without probabilities (binary: one column)."""
    classes: np.ndarray | None = None


def predict(model: Any, X: Any, task: TaskType) -> Predictions:
    """Predict once: probabilities (or decision scores) and labels derived from them."""
    if not task.is_classification:
        return Predictions(labels=np.asarray(model.predict(X), dtype=np.float64))
    classes = np.asarray(model.classes_)
    if hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(X), dtype=np.float64)
        return Predictions(labels=classes[np.argmax(proba, axis=1)], proba=proba, classes=classes)
    scores = np.asarray(model.decision_function(X), dtype=np.float64)
    if scores.ndim == 1:
        labels = classes[(scores > 0).astype(int)]
    else:
        labels = classes[np.argmax(scores, axis=1)]
    return Predictions(labels=labels, scores=scores, classes=classes)


def metric_names(task: TaskType) -> list[str]:
    """The metrics a leaderboard shows for ``task`` (latency is measured separately)."""
    return [m.name for m in metrics_for(task)]


def score(
    task: TaskType, y_true: Any, pred: Predictions, positive: Any | None = None
) -> dict[str, float | None]:
    """Every metric of ``task`` for these predictions."""
    y = np.asarray(y_true)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task is TaskType.REGRESSION:
            return _regression(y.astype(np.float64), pred.labels)
        if task is TaskType.BINARY:
            return _binary(y, pred, positive)
        return _multiclass(y, pred)


def _safe(fn: Any, *args: Any, **kwargs: Any) -> float | None:
    try:
        value = float(fn(*args, **kwargs))
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def _regression(y: np.ndarray, p: np.ndarray) -> dict[str, float | None]:
    nonzero = y != 0
    return {
        "mae": _safe(skm.mean_absolute_error, y, p),
        "rmse": _safe(skm.root_mean_squared_error, y, p),
        "r2": _safe(skm.r2_score, y, p),
        # MAPE over rows whose actual value is not zero (a zero would divide by zero).
        "mape": _safe(skm.mean_absolute_percentage_error, y[nonzero], p[nonzero])
        if nonzero.any()
        else None,
        "median_ae": _safe(skm.median_absolute_error, y, p),
    }


def _binary(y: np.ndarray, pred: Predictions, positive: Any) -> dict[str, float | None]:
    classes = pred.classes if pred.classes is not None else np.unique(y)
    pos = positive if positive is not None and positive in classes else classes[-1]
    labels = pred.labels
    if pred.proba is not None:
        column = int(np.flatnonzero(classes == pos)[0])
        ranking = pred.proba[:, column]
    elif pred.scores is not None:
        ranking = pred.scores if classes[-1] == pos else -pred.scores
    else:
        ranking = None
    truth = np.asarray(y == pos, dtype=bool)
    # Label metrics from one confusion count on booleans: the same formulas as
    # scikit-learn's (zero_division=0), without re-sorting string labels for each metric.
    counts = bootstrap.metrics_from_confusion(
        *bootstrap.confusion_counts(truth, np.asarray(labels == pos, dtype=bool))
    )
    out: dict[str, float | None] = {
        name: float(counts[name][0])
        for name in ("f1", "recall", "precision", "accuracy", "balanced_accuracy", "mcc")
    }
    one_class = truth.all() or not truth.any()
    out["roc_auc"] = (
        _safe(skm.roc_auc_score, truth, ranking) if ranking is not None and not one_class else None
    )
    out["pr_auc"] = (
        _safe(skm.average_precision_score, truth, ranking)
        if ranking is not None and truth.any()
        else None
    )
    out["log_loss"] = None
    if pred.proba is not None:
        column = int(np.flatnonzero(classes == pos)[0])
        p_pos = pred.proba[:, column]
        p_true = np.where(truth, p_pos, 1 - p_pos)
        out["log_loss"] = float(np.mean(-np.log(np.clip(p_true, bootstrap.EPS, 1 - bootstrap.EPS))))
    return out


def _multiclass(y: np.ndarray, pred: Predictions) -> dict[str, float | None]:
    labels = pred.labels
    classes = pred.classes
    kw = {"average": "macro", "zero_division": 0}
    roc = None
    loss = None
    if pred.proba is not None and classes is not None:
        # One-vs-rest AUC needs every class among these rows (None otherwise).
        if np.isin(classes, y).all():
            roc = _safe(skm.roc_auc_score, y, pred.proba, multi_class="ovr", labels=classes)
        loss = _safe(skm.log_loss, y, pred.proba, labels=classes)
    return {
        "f1": _safe(skm.f1_score, y, labels, **kw),
        "recall": _safe(skm.recall_score, y, labels, **kw),
        "precision": _safe(skm.precision_score, y, labels, **kw),
        "accuracy": _safe(skm.accuracy_score, y, labels),
        "balanced_accuracy": _safe(skm.balanced_accuracy_score, y, labels),
        "roc_auc": roc,
        "log_loss": loss,
        "mcc": _safe(skm.matthews_corrcoef, y, labels),
    }
