"""The vectorised bootstrap metrics against scikit-learn, and the intervals' coverage.

Every metric function takes a matrix of resample counts. With all counts equal to one it must
give scikit-learn's metric on the rows; with the counts of a resample it must give
scikit-learn's metric on the explicitly resampled rows ``y[idx]``. The data are real-ish:
a logistic regression on a slice of adult.csv (scores rounded to two decimals, so there are
many ties), a multinomial one for ``relationship``, and a ridge regression of hourly bike
rentals. Coverage is checked by simulation from populations whose true value is known.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm
from sklearn.linear_model import LogisticRegression, Ridge
from threadpoolctl import threadpool_limits
from train_fixtures import POSITIVE, adult_frame, bikes_frame

from app.services import bootstrap as bs


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    """BLAS pools on a busy two-core machine made one small fit take seconds."""
    with threadpool_limits(limits=1):
        yield


# -- real-ish predictions ------------------------------------------------------------------------


@dataclass
class Binary:
    truth: np.ndarray
    score: np.ndarray
    predicted: np.ndarray


@dataclass
class Multi:
    y: np.ndarray
    labels: np.ndarray
    proba: np.ndarray
    classes: np.ndarray


@dataclass
class Reg:
    y: np.ndarray
    pred: np.ndarray


NUMERIC = ["age", "education-num", "capital-gain", "hours-per-week"]


@functools.cache
def binary() -> Binary:
    """Income > 50K scored by a logistic regression fitted on other rows; ties on purpose."""
    frame = adult_frame(3000).to_pandas()
    X = frame[NUMERIC].to_numpy(dtype=float)
    X = (X - X[:2000].mean(axis=0)) / X[:2000].std(axis=0)
    y = (frame["income"] == POSITIVE).to_numpy()
    model = LogisticRegression().fit(X[:2000], y[:2000])
    score = np.round(model.predict_proba(X[2000:])[:, 1], 2)
    assert len(np.unique(score)) < 100  # a thousand rows on < 100 distinct scores: ties
    return Binary(truth=y[2000:], score=score, predicted=score >= 0.3)


@functools.cache
def multi() -> Multi:
    """``relationship`` (six classes) from a multinomial logistic regression."""
    frame = adult_frame(3000).to_pandas()
    X = pd.get_dummies(frame[[*NUMERIC, "sex", "marital-status"]], dtype=float).to_numpy()
    X = (X - X[:2000].mean(axis=0)) / (X[:2000].std(axis=0) + 1e-9)
    y = frame["relationship"].to_numpy().astype(str)
    model = LogisticRegression(max_iter=500).fit(X[:2000], y[:2000])
    proba = model.predict_proba(X[2000:])
    classes = model.classes_.astype(str)
    labels = classes[np.argmax(proba, axis=1)]
    assert len(classes) == 6 and set(y[2000:]) == set(classes)
    assert len(set(labels)) >= 4  # a real multiclass confusion, not one class predicted
    return Multi(y=y[2000:], labels=labels, proba=proba, classes=classes)


@functools.cache
def regression() -> Reg:
    """Hourly bike rentals from a ridge regression fitted on other hours."""
    frame = bikes_frame(5).to_pandas()
    cols = ["temp", "hum", "hr", "workingday", "windspeed", "season"]
    X = frame[cols].to_numpy(dtype=float)
    y = frame["cnt"].to_numpy(dtype=float)
    model = Ridge().fit(X[:2000], y[:2000])
    return Reg(y=y[2000:3001], pred=model.predict(X[2000:3001]))


def ones(n: int) -> np.ndarray:
    """One resample that draws every row once."""
    return np.ones((1, n))


def resamples(n: int, k: int, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """``k`` explicit bootstrap resamples of ``n`` rows and their count matrix."""
    rng = np.random.default_rng(seed)
    idx = [rng.integers(0, n, size=n) for _ in range(k)]
    C = np.array([np.bincount(i, minlength=n) for i in idx], dtype=np.float64)
    return C, idx


def sk_binary_labels(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy = skm.accuracy_score(truth, predicted)
        return {
            "accuracy": accuracy,
            "error_rate": 1 - accuracy,
            "precision": skm.precision_score(truth, predicted, zero_division=0),
            "recall": skm.recall_score(truth, predicted, zero_division=0),
            "f1": skm.f1_score(truth, predicted, zero_division=0),
            "balanced_accuracy": skm.balanced_accuracy_score(truth, predicted),
            "mcc": skm.matthews_corrcoef(truth, predicted),
        }


def sk_multi(y: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    kw = {"average": "macro", "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy = skm.accuracy_score(y, labels)
        return {
            "accuracy": accuracy,
            "error_rate": 1 - accuracy,
            "precision": skm.precision_score(y, labels, **kw),
            "recall": skm.recall_score(y, labels, **kw),
            "f1": skm.f1_score(y, labels, **kw),
            "balanced_accuracy": skm.balanced_accuracy_score(y, labels),
            "mcc": skm.matthews_corrcoef(y, labels),
        }


def sk_regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    nonzero = y != 0
    return {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y[nonzero], pred[nonzero])
        if nonzero.any()
        else math.nan,
        "median_ae": skm.median_absolute_error(y, pred),
    }


def assert_metrics(got: dict[str, np.ndarray], row: int, expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert float(got[name][row]) == pytest.approx(value, rel=1e-10, abs=1e-12, nan_ok=True), (
            name,
            row,
        )


# -- all counts one: the plain metric ------------------------------------------------------------


def test_binary_label_metrics_equal_sklearn() -> None:
    b = binary()
    got = bs.binary_label_metrics(ones(len(b.truth)), b.truth, b.predicted)
    assert set(got) == {
        "accuracy",
        "error_rate",
        "precision",
        "recall",
        "f1",
        "balanced_accuracy",
        "mcc",
    }
    assert_metrics(got, 0, sk_binary_labels(b.truth, b.predicted))


def test_binary_label_metrics_degenerate_predictions_equal_sklearn() -> None:
    """Nothing predicted positive: precision, F1 and MCC are 0 (zero_division=0)."""
    b = binary()
    none = np.zeros_like(b.predicted)
    assert_metrics(
        bs.binary_label_metrics(ones(len(b.truth)), b.truth, none),
        0,
        sk_binary_labels(b.truth, none),
    )


def test_binary_balanced_accuracy_with_one_class_equals_sklearn() -> None:
    """Only negatives among the rows: scikit-learn averages the recall of the classes present
    (here the specificity alone); recall of the absent class is undefined, not 0."""
    b = binary()
    negatives = ~b.truth
    t, p = b.truth[negatives], b.predicted[negatives]
    assert not t.any() and p.any()
    got = bs.binary_label_metrics(ones(len(t)), t, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "y_pred contains classes not in y_true"
        expected = skm.balanced_accuracy_score(t, p)
    assert expected == pytest.approx(1 - p.mean())  # the specificity
    assert float(got["balanced_accuracy"][0]) == pytest.approx(expected, rel=1e-12)


def test_roc_auc_and_average_precision_with_ties_equal_sklearn() -> None:
    b = binary()
    got = bs.ranking_metrics(ones(len(b.truth)), b.truth, b.score)
    assert float(got["roc_auc"][0]) == pytest.approx(skm.roc_auc_score(b.truth, b.score), rel=1e-12)
    assert float(got["pr_auc"][0]) == pytest.approx(
        skm.average_precision_score(b.truth, b.score), rel=1e-12
    )


def test_ranking_metrics_hand_computed_small_case() -> None:
    """Scores 0.1 (neg), 0.4 (pos), 0.4 (neg), 0.8 (pos): of the four positive-negative pairs
    three are ordered right and one is tied, AUC = 3.5 / 4. Average precision: at 0.8 one of
    one is positive (recall 1/2), at 0.4 two of three (recall 1): AP = 1/2 * 1 + 1/2 * 2/3."""
    truth = np.array([False, True, False, True])
    score = np.array([0.1, 0.4, 0.4, 0.8])
    got = bs.ranking_metrics(ones(4), truth, score)
    assert float(got["roc_auc"][0]) == pytest.approx(3.5 / 4)
    assert float(got["pr_auc"][0]) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_ranking_metrics_one_class_is_nan() -> None:
    b = binary()
    t = np.zeros(len(b.truth), dtype=bool)
    got = bs.ranking_metrics(ones(len(t)), t, b.score)
    assert math.isnan(got["roc_auc"][0]) and math.isnan(got["pr_auc"][0])
    got = bs.ranking_metrics(ones(len(t)), ~t, b.score)
    assert math.isnan(got["roc_auc"][0])  # no negatives: no ROC curve either


def test_log_loss_and_brier_equal_sklearn() -> None:
    b = binary()
    p = np.clip(b.score, 0.001, 0.999)
    got = bs.probability_metrics(ones(len(p)), b.truth, np.where(b.truth, p, 1 - p), p)
    assert float(got["log_loss"][0]) == pytest.approx(skm.log_loss(b.truth, p), rel=1e-12)
    assert float(got["brier"][0]) == pytest.approx(skm.brier_score_loss(b.truth, p), rel=1e-12)


def test_multiclass_metrics_equal_sklearn() -> None:
    m = multi()
    C = ones(len(m.y))
    got = bs.multiclass_metrics(C, m.y, m.labels, m.classes)
    assert_metrics(got, 0, sk_multi(m.y, m.labels))
    auc = bs.multiclass_auc(C, m.y, m.proba, m.classes)
    expected = skm.roc_auc_score(m.y, m.proba, multi_class="ovr", labels=m.classes)
    assert float(auc[0]) == pytest.approx(expected, rel=1e-12)
    p_true = m.proba[np.arange(len(m.y)), np.searchsorted(m.classes, m.y)]
    loss = bs.probability_metrics(C, m.y == m.y, p_true, None)
    assert set(loss) == {"log_loss"}
    assert float(loss["log_loss"][0]) == pytest.approx(
        skm.log_loss(m.y, m.proba, labels=m.classes), rel=1e-10
    )


def test_multiclass_auc_with_an_absent_class_is_nan() -> None:
    m = multi()
    keep = m.y != m.classes[0]
    auc = bs.multiclass_auc(ones(int(keep.sum())), m.y[keep], m.proba[keep], m.classes)
    assert math.isnan(auc[0])


def test_multiclass_macro_metrics_ignore_a_class_absent_from_the_rows() -> None:
    """The model knows a class that neither the rows nor the predictions contain (a rare class
    missing from a holdout or from a resample). scikit-learn averages over the labels present
    in y_true or y_pred; counting the absent class as precision = recall = F1 = 0 drags the
    macro average (and every bootstrap resample missing a rare class) down."""
    m = multi()
    rare = m.classes[np.argmin([(m.y == k).sum() for k in m.classes])]
    keep = (m.y != rare) & (m.labels != rare)
    y, labels = m.y[keep], m.labels[keep]
    got = bs.multiclass_metrics(ones(len(y)), y, labels, m.classes)
    assert_metrics(got, 0, sk_multi(y, labels))


def test_regression_metrics_equal_sklearn() -> None:
    r = regression()
    assert r.y.min() > 0
    got = bs.regression_metrics(ones(len(r.y)), r.y, r.pred)
    assert set(got) == {"mae", "rmse", "r2", "mape", "median_ae"}
    assert_metrics(got, 0, sk_regression(r.y, r.pred))


@pytest.mark.parametrize("n", [1, 2, 5, 100, 101])
def test_median_absolute_error_even_and_odd_counts(n: int) -> None:
    r = regression()
    got = bs.regression_metrics(ones(n), r.y[:n], r.pred[:n])
    expected = float(np.median(np.abs(r.y[:n] - r.pred[:n])))
    assert float(got["median_ae"][0]) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(skm.median_absolute_error(r.y[:n], r.pred[:n]))


def test_median_hand_computed() -> None:
    y = np.array([10.0, 20.0, 30.0, 40.0])
    pred = np.array([11.0, 24.0, 27.0, 48.0])  # |errors| 1, 4, 3, 8
    got = bs.regression_metrics(np.array([[1.0, 1, 1, 1], [0, 2, 1, 0], [3, 0, 0, 1]]), y, pred)
    # even: (3 + 4) / 2; rows {4, 4, 3}: 4; rows {1, 1, 1, 8}: (1 + 1) / 2
    assert got["median_ae"].tolist() == [3.5, 4.0, 1.0]
    assert got["mae"].tolist() == pytest.approx([4.0, 11 / 3, 11 / 4])


def test_mape_excludes_zero_targets_and_is_nan_when_all_are_zero() -> None:
    r = regression()
    y = r.y.copy()
    y[::7] = 0
    got = bs.regression_metrics(ones(len(y)), y, r.pred)
    nonzero = y != 0
    expected = skm.mean_absolute_percentage_error(y[nonzero], r.pred[nonzero])
    assert float(got["mape"][0]) == pytest.approx(expected, rel=1e-12)
    # scikit-learn's plain MAPE divides by eps for the zeros: astronomically large
    assert skm.mean_absolute_percentage_error(y, r.pred) > 1e10
    # the other metrics still use every row
    assert float(got["mae"][0]) == pytest.approx(skm.mean_absolute_error(y, r.pred))
    zeros = np.zeros(10)
    assert math.isnan(bs.regression_metrics(ones(10), zeros, r.pred[:10])["mape"][0])


# -- resample counts: the metric on the resampled rows ------------------------------------------


def test_binary_metrics_on_resample_counts_equal_sklearn_on_resampled_rows() -> None:
    b = binary()
    p = np.clip(b.score, 0.001, 0.999)
    C, idx = resamples(len(b.truth), 6, seed=11)
    labels = bs.binary_label_metrics(C, b.truth, b.predicted)
    ranking = bs.ranking_metrics(C, b.truth, b.score)
    proba = bs.probability_metrics(C, b.truth, np.where(b.truth, p, 1 - p), p)
    for row, i in enumerate(idx):
        t, s = b.truth[i], b.score[i]
        assert_metrics(labels, row, sk_binary_labels(t, b.predicted[i]))
        assert_metrics(
            ranking,
            row,
            {"roc_auc": skm.roc_auc_score(t, s), "pr_auc": skm.average_precision_score(t, s)},
        )
        assert_metrics(
            proba,
            row,
            {"log_loss": skm.log_loss(t, p[i]), "brier": skm.brier_score_loss(t, p[i])},
        )


def test_multiclass_metrics_on_resample_counts_equal_sklearn_on_resampled_rows() -> None:
    m = multi()
    C, idx = resamples(len(m.y), 6, seed=12)
    got = bs.multiclass_metrics(C, m.y, m.labels, m.classes)
    auc = bs.multiclass_auc(C, m.y, m.proba, m.classes)
    for row, i in enumerate(idx):
        assert set(m.y[i]) == set(m.classes)  # every class drawn (else see the test above)
        assert_metrics(got, row, sk_multi(m.y[i], m.labels[i]))
        expected = skm.roc_auc_score(m.y[i], m.proba[i], multi_class="ovr", labels=m.classes)
        assert float(auc[row]) == pytest.approx(expected, rel=1e-10)


def test_regression_metrics_on_resample_counts_equal_sklearn_on_resampled_rows() -> None:
    r = regression()
    y = r.y.copy()
    y[::9] = 0  # zeros are excluded from MAPE in every resample, too
    for n in (len(y), len(y) - 1):  # even and odd numbers of rows
        C, idx = resamples(n, 5, seed=n)
        got = bs.regression_metrics(C, y[:n], r.pred[:n])
        for row, i in enumerate(idx):
            assert_metrics(got, row, sk_regression(y[i], r.pred[i]))


# -- counts, the driver and the interval --------------------------------------------------------


def test_count_blocks_are_seeded_resamples_of_n_rows() -> None:
    blocks = list(bs.count_blocks(50, 230, seed=3, block=100))
    assert [b.shape for b in blocks] == [(100, 50), (100, 50), (30, 50)]
    C = np.vstack(blocks)
    assert (C.sum(axis=1) == 50).all() and (C >= 0).all()
    assert np.array_equal(C, C.round())
    again = np.vstack(list(bs.count_blocks(50, 230, seed=3, block=100)))
    assert np.array_equal(C, again)
    other = np.vstack(list(bs.count_blocks(50, 230, seed=4, block=100)))
    assert not np.array_equal(C, other)
    # Each row is a multinomial draw: about 1 - (1 - 1/n)^n = 63.6 % of rows appear.
    share = (C > 0).mean()
    assert share == pytest.approx(1 - (1 - 1 / 50) ** 50, abs=0.02)


def test_bootstrap_scores_every_function_on_the_same_counts() -> None:
    """Model and baseline see the same resamples (a paired bootstrap)."""
    r = regression()
    n = len(r.y)
    base = np.full(n, r.y.mean())
    out = bs.bootstrap(
        n,
        250,
        seed=9,
        metric_fns={
            "model": lambda C: bs.regression_metrics(C, r.y, r.pred),
            "base": lambda C: bs.regression_metrics(C, r.y, base),
        },
    )
    C = np.vstack(list(bs.count_blocks(n, 250, seed=9)))
    assert len(out["model"]["mae"]) == 250
    expected_model = (C @ np.abs(r.y - r.pred)) / n
    expected_base = (C @ np.abs(r.y - base)) / n
    assert out["model"]["mae"] == pytest.approx(expected_model, rel=1e-12)
    assert out["base"]["mae"] == pytest.approx(expected_base, rel=1e-12)


def test_percentile_interval() -> None:
    values = np.array([*np.arange(1.0, 101.0), np.nan, np.inf])
    low, high = bs.percentile_interval(values, 0.95)
    finite = np.arange(1.0, 101.0)
    assert (low, high) == pytest.approx(tuple(np.percentile(finite, [2.5, 97.5])))
    assert (low, high) == pytest.approx((3.475, 97.525))
    assert bs.percentile_interval(np.array([np.nan, np.nan]), 0.95) == (None, None)


# -- coverage: the intervals contain the true value about 95 % of the time ----------------------

REPS = 400
N = 300
RESAMPLES = 400


MetricFn = Callable[[np.ndarray], dict[str, np.ndarray]]


def coverage(
    draw: Callable[[np.random.Generator], MetricFn], metric: str, truth_value: float, seed: int
) -> float:
    """Share of ``REPS`` simulated holdouts whose 95 % interval contains ``truth_value``."""
    rng = np.random.default_rng(seed)
    hits = 0
    for rep in range(REPS):
        fn = draw(rng)
        values = bs.bootstrap(N, RESAMPLES, seed + rep, {"m": fn})["m"][metric]
        low, high = bs.percentile_interval(values, 0.95)
        assert low is not None and high is not None
        hits += low <= truth_value <= high
    return hits / REPS


def test_accuracy_interval_coverage() -> None:
    """Predictions right with probability 0.8: the true accuracy is 0.8."""

    def draw(rng: np.random.Generator) -> MetricFn:
        truth = rng.random(N) < 0.3
        right = rng.random(N) < 0.8
        predicted = np.where(right, truth, ~truth)
        return lambda C: bs.binary_label_metrics(C, truth, predicted)

    assert 0.88 <= coverage(draw, "accuracy", 0.8, seed=100) <= 0.99


def test_mae_interval_coverage() -> None:
    """Normal errors with sd 2: the true MAE is 2 * sqrt(2 / pi)."""

    def draw(rng: np.random.Generator) -> MetricFn:
        x = rng.uniform(0, 100, N)
        y = x + rng.normal(0, 2, N)
        return lambda C: bs.regression_metrics(C, y, x)

    assert 0.88 <= coverage(draw, "mae", 2 * math.sqrt(2 / math.pi), seed=200) <= 0.99


def test_roc_auc_interval_coverage() -> None:
    """Binormal scores, positives shifted by 1 sd: the true AUC is Phi(1 / sqrt 2)."""

    def draw(rng: np.random.Generator) -> MetricFn:
        truth = rng.random(N) < 0.5
        score = rng.normal(0, 1, N) + truth
        return lambda C: bs.ranking_metrics(C, truth, score)

    true_auc = float(stats.norm.cdf(1 / math.sqrt(2)))
    assert 0.88 <= coverage(draw, "roc_auc", true_auc, seed=300) <= 0.99
