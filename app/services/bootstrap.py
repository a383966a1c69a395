"""Vectorised bootstrap of every evaluation metric over holdout rows.

A resample is a row of counts (how often each holdout row was drawn); every metric is then a
weighted sum over rows, so a block of resamples is a few matrix products instead of a Python
loop over resamples. Model and baseline are scored on the same counts, which makes their
difference a paired bootstrap. With all counts equal to one, each function returns the plain
metric (the tests compare that with scikit-learn).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

BLOCK = 100
"""Resamples drawn at once (bounds memory to BLOCK x rows counts)."""
EPS = np.finfo(np.float64).eps


def count_blocks(n: int, resamples: int, seed: int, block: int = BLOCK) -> Iterator[np.ndarray]:
    """Blocks of resample counts, shape (block, n), from one seeded generator."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        idx = rng.integers(0, n, size=(size, n))
        offsets = (np.arange(size) * n)[:, None]
        counts = np.bincount((idx + offsets).ravel(), minlength=size * n).reshape(size, n)
        yield counts.astype(np.float64)
        done += size


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b with 0 where b is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros_like(a, dtype=np.float64)
    np.divide(a, b, out=out, where=b != 0)
    return out


# -- binary ------------------------------------------------------------------------------------


def binary_label_metrics(
    C: np.ndarray, truth: np.ndarray, predicted: np.ndarray
) -> dict[str, np.ndarray]:
    """Label metrics of a binary classifier for each row of counts ``C``."""
    t = truth.astype(bool)
    p = predicted.astype(bool)
    return metrics_from_confusion(C @ (t & p), C @ (~t & p), C @ (t & ~p), C @ (~t & ~p))


def confusion_counts(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, ...]:
    """(tp, fp, fn, tn) of one set of rows, without matrix products (no BLAS threads)."""
    t = truth.astype(bool)
    p = predicted.astype(bool)
    tp = np.count_nonzero(t & p)
    fp = np.count_nonzero(~t & p)
    fn = np.count_nonzero(t & ~p)
    return float(tp), float(fp), float(fn), float(len(t) - tp - fp - fn)


def metrics_from_confusion(
    tp: np.ndarray | float, fp: np.ndarray | float, fn: np.ndarray | float, tn: np.ndarray | float
) -> dict[str, np.ndarray]:
    """Accuracy, error rate, precision, recall, F1, balanced accuracy and MCC from confusion
    counts (arrays of resamples or single values), with scikit-learn's zero_division=0."""
    tp, fp, fn, tn = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (tp, fp, fn, tn))
    total = tp + fp + fn + tn
    recall = _div(tp, tp + fn)
    specificity = _div(tn, tn + fp)
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    accuracy = _div(tp + tn, total)
    return {
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "precision": _div(tp, tp + fp),
        "recall": recall,
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        # Mean recall over the classes present in the truth (as scikit-learn does).
        "balanced_accuracy": _div(
            recall * (tp + fn > 0) + specificity * (tn + fp > 0),
            (tp + fn > 0).astype(np.float64) + (tn + fp > 0),
        ),
        "mcc": _div(tp * tn - fp * fn, denom),
    }


def _groups(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending order of ``score`` and the start of each run of tied scores in it."""
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts


def ranking_metrics(C: np.ndarray, truth: np.ndarray, score: np.ndarray) -> dict[str, np.ndarray]:
    """ROC-AUC and average precision (PR-AUC) for each row of counts (NaN with one class)."""
    t = truth.astype(bool)
    order, starts = _groups(score)
    Cs = C[:, order]
    ts = t[order]
    P_g = np.add.reduceat(Cs * ts, starts, axis=1)
    N_g = np.add.reduceat(Cs * ~ts, starts, axis=1)
    P = P_g.sum(axis=1)
    N = N_g.sum(axis=1)
    below = np.cumsum(N_g, axis=1) - N_g
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (P_g * (below + 0.5 * N_g)).sum(axis=1) / (P * N)
        # Average precision: thresholds from the highest score down.
        tps = np.cumsum(P_g[:, ::-1], axis=1)
        fps = np.cumsum(N_g[:, ::-1], axis=1)
        precision = tps / (tps + fps)
        recall = tps / P[:, None]
        step = np.diff(np.c_[np.zeros(len(C)), recall], axis=1)
        ap = np.nansum(step * precision, axis=1)
    auc[(P == 0) | (N == 0)] = np.nan
    ap[P == 0] = np.nan
    return {"roc_auc": auc, "pr_auc": ap}


def probability_metrics(
    C: np.ndarray, truth: np.ndarray, proba_true: np.ndarray, proba_positive: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Log loss (from the probability of the true class) and, for binary, the Brier score."""
    total = C.sum(axis=1)
    loss = -np.log(np.clip(proba_true, EPS, 1 - EPS))
    out = {"log_loss": (C @ loss) / total}
    if proba_positive is not None:
        out["brier"] = (C @ (proba_positive - truth.astype(np.float64)) ** 2) / total
    return out


# -- multiclass --------------------------------------------------------------------------------


def multiclass_metrics(
    C: np.ndarray, y: np.ndarray, labels: np.ndarray, classes: np.ndarray
) -> dict[str, np.ndarray]:
    """Macro precision/recall/F1, accuracy, balanced accuracy and MCC per row of counts."""
    total = C.sum(axis=1)
    correct = C @ (y == labels)
    precisions, recalls, f1s, supports, seen = [], [], [], [], []
    for k in classes:
        t = y == k
        p = labels == k
        tp = C @ (t & p)
        fp = C @ (~t & p)
        fn = C @ (t & ~p)
        precisions.append(_div(tp, tp + fp))
        recalls.append(_div(tp, tp + fn))
        f1s.append(_div(2 * tp, 2 * tp + fp + fn))
        supports.append(tp + fn)
        seen.append(tp + fn + fp > 0)
    present = np.array(supports) > 0
    # Macro averages run over the classes in the truth or the predictions (scikit-learn).
    either = np.array(seen, dtype=np.float64)
    n_either = either.sum(axis=0)
    recall_arr = np.array(recalls)
    balanced = _div((recall_arr * present).sum(axis=0), present.sum(axis=0).astype(np.float64))
    # Multiclass MCC (Gorodkin): from the confusion totals.
    t_k = np.array([C @ (y == k) for k in classes])
    p_k = np.array([C @ (labels == k) for k in classes])
    cov_ytyp = correct * total - (t_k * p_k).sum(axis=0)
    cov_ypyp = total**2 - (p_k**2).sum(axis=0)
    cov_ytyt = total**2 - (t_k**2).sum(axis=0)
    mcc = _div(cov_ytyp, np.sqrt(cov_ytyt * cov_ypyp))
    accuracy = _div(correct, total)
    return {
        "accuracy": accuracy,
        "error_rate": 1.0 - accuracy,
        "precision": _div((np.array(precisions) * either).sum(axis=0), n_either),
        "recall": _div((recall_arr * either).sum(axis=0), n_either),
        "f1": _div((np.array(f1s) * either).sum(axis=0), n_either),
        "balanced_accuracy": balanced,
        "mcc": mcc,
    }


def multiclass_auc(
    C: np.ndarray, y: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> np.ndarray:
    """Macro one-vs-rest ROC-AUC per row of counts (NaN when a class is absent)."""
    aucs = [ranking_metrics(C, y == k, proba[:, i])["roc_auc"] for i, k in enumerate(classes)]
    return np.mean(aucs, axis=0)


# -- regression --------------------------------------------------------------------------------


def regression_metrics(C: np.ndarray, y: np.ndarray, pred: np.ndarray) -> dict[str, np.ndarray]:
    """MAE, RMSE, R², MAPE (rows whose actual value is not zero) and median absolute error."""
    err = y - pred
    total = C.sum(axis=1)
    sse = C @ err**2
    sy = C @ y
    sst = C @ y**2 - sy**2 / total
    nonzero = y != 0
    nz_total = C @ nonzero
    ape = np.zeros_like(y, dtype=np.float64)
    ape[nonzero] = np.abs(err[nonzero]) / np.abs(y[nonzero])
    abs_err = np.abs(err)
    order = np.argsort(abs_err, kind="mergesort")
    cum = np.cumsum(C[:, order], axis=1)
    sorted_err = abs_err[order]
    lower = (cum <= ((total - 1) // 2)[:, None]).sum(axis=1)
    upper = (cum <= (total // 2)[:, None]).sum(axis=1)
    n = len(y) - 1
    median = (sorted_err[np.minimum(lower, n)] + sorted_err[np.minimum(upper, n)]) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1 - sse / sst, np.nan)
        mape = np.where(nz_total > 0, (C @ ape) / nz_total, np.nan)
    return {
        "mae": (C @ abs_err) / total,
        "rmse": np.sqrt(sse / total),
        "r2": r2,
        "mape": mape,
        "median_ae": median,
    }


def bootstrap(
    n: int,
    resamples: int,
    seed: int,
    metric_fns: dict[str, Callable[[np.ndarray], dict[str, np.ndarray]]],
) -> dict[str, dict[str, np.ndarray]]:
    """Run every function in ``metric_fns`` (name -> f(counts) -> {metric: values}) on the same
    resamples; returns name -> metric -> one value per resample."""
    out: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in metric_fns}
    for C in count_blocks(n, resamples, seed):
        for name, fn in metric_fns.items():
            for metric, values in fn(C).items():
                out[name].setdefault(metric, []).append(values)
    return {
        name: {metric: np.concatenate(parts) for metric, parts in metrics.items()}
        for name, metrics in out.items()
    }


def percentile_interval(values: np.ndarray, confidence: float) -> tuple[float | None, float | None]:
    """The percentile interval of the finite bootstrap values (None, None if there are none)."""
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return None, None
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)
