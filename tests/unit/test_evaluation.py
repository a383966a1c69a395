"""The Evaluate service against independent references.

Point metrics are recomputed with scikit-learn from the stored model (reloaded with skops)
and the holdout (read again from the store); intervals by bootstrapping scikit-learn itself
over the same resample counts; the baseline with scikit-learn's dummy models; the tuned
threshold by a brute-force loop over the same grid with ``f1_score``/``recall_score`` on
out-of-fold scores from ``cross_val_predict``; the gate from constructed evaluations whose
right answer (and ``rows_needed``) is worked out by hand. Bad input: a missing or corrupt
model file, a holdout with one class, a charter changed since training, zeros in a
regression target, out-of-range settings.

Projects are small slices of the sample data (1,500 adult rows, every 10th bike hour), one
logistic or ridge model each. Latency is not under test here, so its single-row timing loop
is cut to a few calls; no test asserts a time.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn import metrics as skm
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import cross_val_predict
from threadpoolctl import threadpool_limits
from train_fixtures import (
    POSITIVE,
    adult_frame,
    bikes_frame,
    charter,
    make_project,
    regression_charter,
    table_count,
    train_and_choose,
)

from app.domain.charter import Charter, parse_charter
from app.domain.evaluation import (
    Evaluation,
    GateDecision,
    GateOutcome,
    Interval,
    Latency,
    MetricResult,
    SegmentResult,
)
from app.domain.metrics import TaskType
from app.domain.training import CANDIDATES
from app.errors import MlwbError
from app.services import bootstrap as bs
from app.services import browse, problem
from app.services import evaluation as ev
from app.services import models as model_service
from app.services import training as tr
from app.services.features import FeatureSet, build_pipeline
from app.services.model_card import model_card
from storage import training as store_runs
from storage.db import ProjectStore

NEGATIVE = "<=50K"
RESAMPLES = 200
GRID = np.linspace(0.005, 0.995, 199)


@pytest.fixture(autouse=True, scope="module")
def _fast() -> Iterator[None]:
    """One BLAS thread (busy two-core machines), and a short single-row latency loop."""
    with threadpool_limits(limits=1), pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "LATENCY_CALLS", 10)
        yield


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, int]:
    """1,500 adult rows (300 held out), a chosen logistic regression, recall >= 0.6."""
    store = make_project(
        tmp_path_factory.mktemp("adult"),
        "adult",
        adult_frame(1500),
        charter("adult", constraints=["recall >= 0.6"]),
    )
    return store, train_and_choose(store)


@pytest.fixture(scope="module")
def bikes(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, int]:
    """Every 10th bike hour, random split, a chosen ridge regression of cnt."""
    store = make_project(
        tmp_path_factory.mktemp("bikes"),
        "bikes",
        bikes_frame(10),
        {**regression_charter("cnt", threshold=150), "constraints": ["r2 >= 0.2"]},
    )
    return store, train_and_choose(store, "ridge")


@dataclass
class Holdout:
    model: Any
    record: dict[str, Any]
    X: pd.DataFrame
    y: np.ndarray
    train_y: np.ndarray


def holdout(store: ProjectStore, run_id: int) -> Holdout:
    """The stored model reloaded and the holdout read again, independently of evaluate()."""
    with store.connect() as con:
        record = store_runs.get_model(con, run_id)
        run = store_runs.get_run(con, run_id)
    assert record is not None and run is not None
    model = model_service.load_model(store.root / record["path"], record["sha256"])
    version = browse.get_version(store, run.dataset, run.version)
    features = FeatureSet(
        target=record["target"],
        numeric=record["numeric"],
        categorical=record["categorical"],
        dates=record["dates"],
    )
    task = TaskType(record["task"])
    X, y = tr.load_part(store, version, features, task, holdout=True)
    _, train_y = tr.load_part(store, version, features, task, holdout=False)
    return Holdout(model, record, X, y, train_y)


def counts(store: ProjectStore) -> tuple[int, int, Any]:
    """Evaluations, events and the stored model records: what an evaluation may change."""
    with store.connect() as con:
        models = con.execute("SELECT run_id, body FROM models ORDER BY run_id").fetchall()
    return table_count(store, "evaluations"), table_count(store, "events"), models


def sk_binary(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Every binary metric by scikit-learn from the positive-class probability ``p``."""
    pred = np.where(p >= threshold, POSITIVE, NEGATIVE)
    truth = y == POSITIVE
    kw: dict[str, Any] = {"pos_label": POSITIVE, "zero_division": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accuracy = skm.accuracy_score(y, pred)
        return {
            "accuracy": accuracy,
            "error_rate": 1 - accuracy,
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred, **kw),
            "recall": skm.recall_score(y, pred, **kw),
            "f1": skm.f1_score(y, pred, **kw),
            "mcc": skm.matthews_corrcoef(y, pred),
            "roc_auc": skm.roc_auc_score(truth, p),
            "pr_auc": skm.average_precision_score(truth, p),
            "log_loss": skm.log_loss(truth, p),
            "brier": skm.brier_score_loss(truth, p),
        }


def sk_regression(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    nonzero = y != 0
    return {
        "mae": skm.mean_absolute_error(y, pred),
        "rmse": skm.root_mean_squared_error(y, pred),
        "r2": skm.r2_score(y, pred),
        "mape": skm.mean_absolute_percentage_error(y[nonzero], pred[nonzero]),
        "median_ae": skm.median_absolute_error(y, pred),
    }


def positive_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(X)[:, list(model.classes_).index(POSITIVE)]


def resampled_rows(n: int, seed: int) -> list[np.ndarray]:
    """The rows of each resample evaluate() draws (its seeded counts, expanded)."""
    C = np.vstack(list(bs.count_blocks(n, RESAMPLES, seed))).astype(int)
    return [np.repeat(np.arange(n), c) for c in C]


def percentiles(values: list[float]) -> tuple[float, float]:
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


# -- every point metric equals scikit-learn's -------------------------------------------------


def test_binary_point_metrics_baseline_and_intervals_equal_sklearn(
    adult: tuple[ProjectStore, int],
) -> None:
    store, run_id = adult
    e = ev.evaluate(
        store,
        run_id,
        threshold=0.4,
        segments=["sex", "race"],
        resamples=RESAMPLES,
        seed=5,
        importance=False,
    )
    h = holdout(store, run_id)
    assert (e.task, e.n_holdout, len(h.y)) == ("binary", 300, 300)
    assert (e.threshold, e.threshold_source, e.resamples, e.seed) == (0.4, "given", 200, 5)
    p = positive_proba(h.model, h.X)
    expected = sk_binary(h.y, p, 0.4)
    assert [m.name for m in e.metrics] == list(expected)  # every metric, none missing
    for name, value in expected.items():
        assert e.metric(name).model.value == pytest.approx(value, rel=1e-12), name  # type: ignore[union-attr]

    # The baseline: scikit-learn's prior dummy fitted on the training part's target.
    dummy = DummyClassifier().fit(np.zeros((len(h.train_y), 1)), h.train_y)
    base_p = dummy.predict_proba(np.zeros((len(h.y), 1)))[:, list(dummy.classes_).index(POSITIVE)]
    base = sk_binary(h.y, base_p, 0.5)
    assert base["f1"] == 0 and base["roc_auc"] == 0.5
    for name, value in base.items():
        m = e.metric(name)
        assert m is not None and m.baseline is not None and m.difference is not None
        assert m.baseline.value == pytest.approx(value, rel=1e-12), name
        assert m.difference.value == pytest.approx(expected[name] - value, rel=1e-9, abs=1e-12)

    # Intervals: percentiles of scikit-learn's metric on the very resampled rows.
    truth = h.y == POSITIVE
    pred = np.where(p >= 0.4, POSITIVE, NEGATIVE)
    base_pred = np.where(base_p >= 0.5, POSITIVE, NEGATIVE)
    aucs, accs, diffs = [], [], []
    for idx in resampled_rows(len(h.y), seed=5):
        aucs.append(skm.roc_auc_score(truth[idx], p[idx]))
        acc = skm.accuracy_score(h.y[idx], pred[idx])
        accs.append(acc)
        diffs.append(acc - skm.accuracy_score(h.y[idx], base_pred[idx]))
    for name, values in (("roc_auc", aucs), ("accuracy", accs)):
        m = e.metric(name)
        assert m is not None
        assert (m.model.low, m.model.high) == pytest.approx(percentiles(values), rel=1e-9)
    acc_diff = e.metric("accuracy").difference  # type: ignore[union-attr]
    assert (acc_diff.low, acc_diff.high) == pytest.approx(percentiles(diffs), rel=1e-9)  # type: ignore[union-attr]
    assert e.metric("f1").better is True  # the dummy never predicts '>50K'

    # Confusion matrix and per-class figures.
    assert e.classes == [NEGATIVE, POSITIVE]
    assert e.confusion == skm.confusion_matrix(h.y, pred, labels=e.classes).tolist()
    prec, rec, f1, sup = skm.precision_recall_fscore_support(h.y, pred, labels=e.classes)
    for i, c in enumerate(e.classes):
        assert e.per_class[c] == pytest.approx(
            {"precision": prec[i], "recall": rec[i], "f1": f1[i], "support": sup[i]}
        )

    # Segments: F1 on each slice, by scikit-learn; worst first among those with an interval.
    assert {s.column for s in e.segments} == {"sex", "race"}
    for s in e.segments:
        mask = h.X[s.column].astype(str).to_numpy() == s.value
        assert s.n == int(mask.sum())
        if not truth[mask].any():
            assert s.metric.value is None and "no '>50K' rows" in s.metric.note
            continue
        assert s.metric.value == pytest.approx(
            skm.f1_score(h.y[mask], pred[mask], pos_label=POSITIVE, zero_division=0)
        )
        assert (s.metric.low is not None) == (s.n >= 30)
    ranked = [s.metric.value for s in e.segments if s.metric.low is not None]
    assert len(ranked) >= 2 and ranked == sorted(ranked)
    assert sum(s.n for s in e.segments if s.column == "sex") == 300

    # The threshold curve: F1 at each threshold, by scikit-learn.
    for point in e.curves["threshold"][::10]:
        assert point.y == pytest.approx(
            skm.f1_score(truth, p >= point.x, zero_division=0), rel=1e-12
        )
    fpr, tpr, _ = skm.roc_curve(truth, p)
    assert (e.curves["roc"][0].x, e.curves["roc"][-1].y) == (fpr[0], tpr[-1])


def test_regression_point_metrics_and_baseline_equal_sklearn(
    bikes: tuple[ProjectStore, int],
) -> None:
    store, run_id = bikes
    e = ev.evaluate(store, run_id, resamples=RESAMPLES, seed=1, importance=False)
    h = holdout(store, run_id)
    pred = h.model.predict(h.X)
    y = h.y.astype(float)
    assert e.task == "regression" and e.n_holdout == len(y) and y.min() > 0
    assert e.threshold is None and e.classes == [] and e.confusion == []
    expected = sk_regression(y, pred)
    assert [m.name for m in e.metrics] == list(expected)
    for name, value in expected.items():
        assert e.metric(name).model.value == pytest.approx(value, rel=1e-12), name  # type: ignore[union-attr]
    mean = DummyRegressor().fit(np.zeros((len(h.train_y), 1)), h.train_y).predict(y[:, None])
    assert mean == pytest.approx(np.full(len(y), h.train_y.mean()))
    for name, value in sk_regression(y, mean).items():
        if name == "r2":
            continue  # R² of a constant is 0 or below; compared through the difference
        assert e.metric(name).baseline.value == pytest.approx(value, rel=1e-12), name  # type: ignore[union-attr]
    mae = e.metric("mae")
    assert mae is not None and mae.better is True  # lower is better: the interval is < 0
    assert mae.difference.high < 0  # type: ignore[union-attr]
    maes = [skm.mean_absolute_error(y[i], pred[i]) for i in resampled_rows(len(y), seed=1)]
    assert (mae.model.low, mae.model.high) == pytest.approx(percentiles(maes), rel=1e-9)
    assert sum(e.histogram["counts"]) == len(y)
    residual = dict(zip(pred.round(9), (y - pred).round(6), strict=True))
    for point in e.curves["residuals"][:50]:
        assert round(point.y, 6) == residual[round(point.x, 9)]


# -- the gate with constructed evidence ---------------------------------------------------------


def metric(
    name: str, value: float | None, low: float | None, high: float | None, diff: tuple | None
) -> MetricResult:
    """A metric result; ``diff`` = (value, low, high) of model minus baseline."""
    d = better = None
    if diff is not None:
        d = Interval(value=diff[0], low=diff[1], high=diff[2])
        better = diff[1] > 0 if ev.higher_is_better(name) else diff[2] < 0
    return MetricResult(
        name=name,
        label=ev.metric_label(name),
        model=Interval(value=value, low=low, high=high, note="" if value is not None else "n/a"),
        baseline=Interval(value=value - diff[0]) if diff and value is not None else None,
        difference=d,
        better=better,
    )


def judge(c: Charter, metrics: list[MetricResult], **fields: Any) -> GateDecision:
    e = Evaluation(
        run_id=1,
        candidate="logreg",
        label="Logistic regression",
        charter_version=1,
        dataset="d",
        version=1,
        task=c.task.value,
        target=c.target,
        n_holdout=fields.pop("n_holdout", 400),
        primary=c.primary_metric,
        resamples=1000,
        seed=0,
        metrics=metrics,
        gate=GateDecision(outcome=GateOutcome.TOO_CLOSE, checks=[], summary=""),
        **fields,
    )
    return ev.decide(e, c)


def binary_charter(threshold: float = 0.65, constraints: tuple[str, ...] = ()) -> Charter:
    return parse_charter(charter("adult", threshold=threshold, constraints=list(constraints)))


BEATS = (0.5, 0.45, 0.55)


def test_gate_passes_when_the_interval_clears_and_the_baseline_is_beaten() -> None:
    d = judge(
        binary_charter(constraints=("recall >= 0.6",)),
        [metric("f1", 0.75, 0.70, 0.80, BEATS), metric("recall", 0.7, 0.65, 0.75, BEATS)],
        threshold=0.5,
    )
    assert d.outcome is GateOutcome.PASS and d.outcome.exit_code == 0
    assert [c.passed for c in d.checks] == [True, True, True]
    assert [c.name for c in d.checks] == ["f1 >= 0.65", "beats the baseline", "recall >= 0.6"]
    assert d.summary == "every check holds" and d.pointers == [] and d.rows_needed is None


def test_gate_fails_when_the_whole_interval_misses() -> None:
    d = judge(binary_charter(), [metric("f1", 0.50, 0.45, 0.55, BEATS)], cv_primary=0.80)
    assert d.outcome is GateOutcome.FAIL and d.outcome.exit_code == 1
    assert d.checks[0].passed is False and "the whole interval misses it" in d.checks[0].detail
    assert d.summary == "failed: f1 >= 0.65"
    # CV promised 0.80, the holdout gives 0.50 (0.80 is outside its interval): overfitting.
    assert [p.stage for p in d.pointers] == ["train"]
    assert "cross-validation promised 0.8000" in d.pointers[0].reason


def test_gate_fail_on_the_primary_metric_alone_points_back_somewhere() -> None:
    """The issue: 'On fail, a reasoned pointer back'. Here the primary metric is clearly below
    the threshold, the baseline is beaten, CV agrees with the holdout, no constraint and no
    segment stands out: the decision still owes the user a stage to revisit."""
    d = judge(binary_charter(), [metric("f1", 0.50, 0.45, 0.55, BEATS)], cv_primary=0.51)
    assert d.outcome is GateOutcome.FAIL
    assert d.pointers, "a FAIL without any pointer back"


def test_gate_too_close_estimates_rows_needed_by_hand() -> None:
    # half-width (0.6875 - 0.4375) / 2 = 0.125, margin 0.5625 - 0.5 = 0.0625:
    # 400 * (0.125 / 0.0625)^2 = 1,600 rows.
    d = judge(binary_charter(0.5), [metric("f1", 0.5625, 0.4375, 0.6875, BEATS)])
    assert d.outcome is GateOutcome.TOO_CLOSE and d.outcome.exit_code == 2
    assert d.checks[0].passed is None and "straddles" in d.checks[0].detail
    assert d.rows_needed == 1600
    assert "about 1,600 holdout rows (now 400)" in d.summary
    # 0.66 (0.60 – 0.70) vs 0.65 on 300 rows: 300 * (0.05 / 0.01)^2 = 7,500.
    d = judge(binary_charter(), [metric("f1", 0.66, 0.60, 0.70, BEATS)], n_holdout=300)
    assert d.outcome is GateOutcome.TOO_CLOSE and abs(d.rows_needed - 7500) <= 1  # type: ignore[operator]


def test_gate_fails_on_a_secondary_constraint() -> None:
    c = binary_charter(constraints=("recall >= 0.6",))
    good = metric("f1", 0.75, 0.70, 0.80, BEATS)
    d = judge(c, [good, metric("recall", 0.55, 0.5, 0.6, BEATS)], threshold=0.5)
    assert d.outcome is GateOutcome.FAIL
    assert [c.passed for c in d.checks] == [True, True, False]
    assert d.summary == "failed: recall >= 0.6"
    assert [p.stage for p in d.pointers] == ["evaluate"]
    assert "lower the decision threshold (now 0.5)" in d.pointers[0].reason
    # Latency, from a constructed measurement (nothing is timed here).
    slow = Latency(single_p50_ms=20, single_p95_ms=80, batch_ms_per_row=0.1, batch_rows=400)
    fast = slow.model_copy(update={"single_p95_ms": 30.0})
    c = binary_charter(constraints=("latency_p95_ms <= 50",))
    assert judge(c, [good], latency=fast).outcome is GateOutcome.PASS
    d = judge(c, [good], latency=slow)
    assert d.outcome is GateOutcome.FAIL and d.pointers[0].stage == "train"
    assert "single-row p95 80.00 ms" in d.checks[-1].detail
    assert judge(c, [good], latency=None).outcome is GateOutcome.FAIL  # not measured


def test_gate_fails_when_the_model_is_no_better_than_the_baseline() -> None:
    d = judge(binary_charter(), [metric("f1", 0.75, 0.70, 0.80, (-0.03, -0.06, -0.001))])
    assert d.outcome is GateOutcome.FAIL
    assert d.checks[1].name == "beats the baseline" and d.checks[1].passed is False
    assert [p.stage for p in d.pointers] == ["data"]
    assert "no better than the dummy baseline" in d.pointers[0].reason


def test_gate_baseline_difference_straddling_zero_is_explained() -> None:
    """The model is not significantly better than the baseline (the difference's interval
    holds zero). Whatever the verdict, it must be explained: a FAIL has to name the failed
    check and point back (to the data); otherwise it is too close to call."""
    d = judge(binary_charter(), [metric("f1", 0.75, 0.70, 0.80, (0.01, -0.02, 0.04))])
    assert d.outcome in (GateOutcome.FAIL, GateOutcome.TOO_CLOSE)
    if d.outcome is GateOutcome.FAIL:
        assert "beats the baseline" in d.summary, d.summary
        assert any(p.stage == "data" for p in d.pointers), d.pointers
    else:
        assert "beats the baseline" in d.summary


def test_gate_lower_is_better_metric() -> None:
    c = parse_charter({**regression_charter("cnt", threshold=60), "constraints": ["r2 >= 0.7"]})
    better = (-30.0, -35.0, -25.0)
    r2_ok = metric("r2", 0.8, 0.75, 0.85, (0.8, 0.75, 0.85))
    assert judge(c, [metric("mae", 50, 45, 55, better), r2_ok]).outcome is GateOutcome.PASS
    d = judge(c, [metric("mae", 70, 65, 75, better), r2_ok])
    assert d.outcome is GateOutcome.FAIL and d.checks[0].name == "mae <= 60"
    d = judge(c, [metric("mae", 61, 55, 67, better), r2_ok])
    assert d.outcome is GateOutcome.TOO_CLOSE and d.rows_needed == math.ceil(400 * 36)
    d = judge(c, [metric("mae", 50, 45, 55, better), metric("r2", 0.6, 0.5, 0.7, None)])
    assert d.outcome is GateOutcome.FAIL and d.pointers[-1].stage == "train"


def test_gate_undefined_primary_and_weak_segment() -> None:
    d = judge(binary_charter(), [metric("f1", None, None, None, None)])
    assert d.outcome is GateOutcome.FAIL and "undefined" in d.checks[0].detail
    weak = SegmentResult(
        column="race", value="Other", n=40, metric=Interval(value=0.3, low=0.2, high=0.4)
    )
    d = judge(binary_charter(), [metric("f1", 0.75, 0.70, 0.80, BEATS)], segments=[weak])
    assert any(p.stage == "data" and "race = Other (40 rows)" in p.reason for p in d.pointers), (
        d.pointers
    )


# -- the gate end to end, against charter versions ---------------------------------------------


def test_gate_end_to_end_is_judged_against_the_current_charter(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(1500), charter("adult", constraints=[]))
    run_id = train_and_choose(store)
    low = problem.save_charter(store, charter("adult", threshold=0.05, constraints=[]))
    e = ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)
    assert e.gate.outcome is GateOutcome.PASS
    assert (e.charter_version, e.trained_charter_version) == (low.version, 1) == (2, 1)
    assert any("charter changed since training (v1 → v2)" in n for n in e.notes), e.notes
    assert e.gate.checks[0].name == "f1 >= 0.05" and e.metric("f1").model.low > 0.05  # type: ignore[union-attr]

    high = problem.save_charter(store, charter("adult", threshold=0.99, constraints=[]))
    e = ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)
    assert e.gate.outcome is GateOutcome.FAIL and e.charter_version == high.version == 3
    assert e.gate.checks[0].passed is False and e.metric("f1").model.high < 0.99  # type: ignore[union-attr]
    assert any("(v1 → v3)" in n for n in e.notes)

    # Recorded: the decision, its evidence and the charter version.
    stored = ev.latest(store, run_id)
    assert stored is not None and stored.id == e.id and stored.gate == e.gate
    with store.connect() as con:
        rows = con.execute(
            "SELECT charter_version, outcome FROM evaluations ORDER BY id"
        ).fetchall()
        events = con.execute(
            "SELECT details FROM events WHERE action = 'gate_decided' ORDER BY id"
        ).fetchall()
    assert rows == [(2, "pass"), (3, "fail")]
    assert len(events) == 2 and '"charter_version": 3' in events[1][0]
    card = model_card(store, run_id)
    assert "**Gate: FAIL**" in card and "judged against charter v3" in card
    assert "Success: f1 >= 0.99" in card


# -- threshold tuning ---------------------------------------------------------------------------


def brute_force(
    truth: np.ndarray, score: np.ndarray, constraints: list[tuple[str, float]]
) -> tuple[float, bool]:
    """The grid threshold with the best F1 among those meeting every ``metric >= value``
    (first on ties); with none, the one missing them least. Computed with scikit-learn."""
    funcs = {"recall": skm.recall_score, "precision": skm.precision_score}
    best, best_f1, least, least_gap = None, -1.0, None, math.inf
    for t in GRID:
        pred = score >= t
        f1 = skm.f1_score(truth, pred, zero_division=0)
        gap = sum(max(0.0, v - funcs[m](truth, pred, zero_division=0)) for m, v in constraints)
        if gap == 0 and f1 > best_f1:
            best, best_f1 = t, f1
        if gap < least_gap:
            least, least_gap = t, gap
    if best is not None:
        return round(float(best), 3), True
    assert least is not None
    return round(float(least), 3), False


def synthetic_scores(seed: int, n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.random(n) < 0.3
    score = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.5 * truth - 1)))
    return truth, score


@pytest.mark.parametrize("recall", [None, 0.5, 0.8, 0.95])
def test_tune_threshold_equals_brute_force(recall: float | None) -> None:
    truth, score = synthetic_scores(1)
    constraints = [] if recall is None else [f"recall >= {recall}"]
    threshold, text = ev.tune_threshold(truth, score, binary_charter(constraints=constraints))
    expected, feasible = brute_force(truth, score, [] if recall is None else [("recall", recall)])
    assert feasible and threshold == expected
    assert text.startswith("maximises f1")
    if recall is not None:
        assert f"subject to recall >= {recall:g}" in text
        assert skm.recall_score(truth, score >= threshold) >= recall


def test_tune_threshold_reports_an_infeasible_constraint() -> None:
    truth, score = synthetic_scores(2)
    c = binary_charter(constraints=("recall >= 0.95", "precision >= 0.95"))
    threshold, text = ev.tune_threshold(truth, score, c)
    expected, feasible = brute_force(truth, score, [("recall", 0.95), ("precision", 0.95)])
    assert not feasible and threshold == expected
    assert (
        text == "no threshold meets recall >= 0.95, precision >= 0.95; this one misses them least"
    )


def test_tune_threshold_keeps_half_for_a_ranking_metric() -> None:
    truth, score = synthetic_scores(3)
    c = parse_charter(charter("adult", primary_metric="roc_auc", threshold=0.7, constraints=[]))
    assert ev.tune_threshold(truth, score, c) == (
        0.5,
        "roc_auc does not depend on the threshold; 0.5 kept",
    )


def test_tuned_threshold_comes_from_out_of_fold_scores_and_is_stored(tmp_path: Path) -> None:
    store = make_project(
        tmp_path, "adult", adult_frame(1500), charter("adult", constraints=["recall >= 0.6"])
    )
    run_id = train_and_choose(store)
    with store.connect() as con:
        run = store_runs.get_run(con, run_id)
    assert run is not None
    scores, truth = ev.out_of_fold_scores(store, run)
    data = tr.load_training(store, run.cv, run.seed)
    pipeline = build_pipeline(
        CANDIDATES[run.candidate], run.params, data.task, run.seed, data.features
    )
    reference = cross_val_predict(pipeline, data.X, data.y, cv=data.folds, method="predict_proba")
    assert scores == pytest.approx(reference[:, 1], rel=1e-9, abs=1e-12)
    assert np.array_equal(truth, data.y == POSITIVE) and len(truth) == 1200
    expected, feasible = brute_force(truth, reference[:, 1], [("recall", 0.6)])
    assert feasible and expected < 0.5  # recall >= 0.6 needs a lower threshold here

    tuned = ev.evaluate(store, run_id, tune=True, resamples=RESAMPLES, importance=False)
    assert tuned.threshold == expected
    assert tuned.threshold_source.startswith("tuned on out-of-fold predictions (maximises f1")
    with store.connect() as con:
        record = store_runs.get_model(con, run_id)
    assert record is not None and record["threshold"] == expected
    # Next evaluation without --tune reuses it: the same threshold and the same metrics.
    again = ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)
    assert (again.threshold, again.threshold_source) == (expected, "stored with the model")
    assert again.metrics == tuned.metrics
    # A loaded model used at deployment gets the same labels from the stored threshold.
    h = holdout(store, run_id)
    labels = np.where(positive_proba(h.model, h.X) >= record["threshold"], POSITIVE, NEGATIVE)
    assert again.confusion == skm.confusion_matrix(h.y, labels, labels=again.classes).tolist()

    problem.save_charter(
        store, charter("adult", constraints=["recall >= 0.99", "precision >= 0.99"])
    )
    infeasible = ev.evaluate(store, run_id, tune=True, resamples=RESAMPLES, importance=False)
    assert "no threshold meets recall >= 0.99, precision >= 0.99" in infeasible.threshold_source
    assert infeasible.gate.outcome is GateOutcome.FAIL


# -- bad input ---------------------------------------------------------------------------------


def test_missing_model_file_is_a_clear_error_and_stores_nothing(
    adult: tuple[ProjectStore, int], tmp_path: Path
) -> None:
    store, run_id = adult
    path = model_service.model_path(store, run_id)
    before = counts(store)
    shutil.move(path, tmp_path / "away.skops")
    try:
        with pytest.raises(MlwbError, match="cannot read the model file"):
            ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)
    finally:
        shutil.move(tmp_path / "away.skops", path)
    assert counts(store) == before


def test_corrupt_model_file_is_a_clear_error_and_stores_nothing(
    adult: tuple[ProjectStore, int],
) -> None:
    store, run_id = adult
    path = model_service.model_path(store, run_id)
    original = path.read_bytes()
    before = counts(store)
    damaged = bytearray(original)
    for i in range(len(damaged) // 3, len(damaged) // 3 + 64):
        damaged[i] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with store.connect() as con:
        (sha,) = con.execute("SELECT sha256 FROM models WHERE run_id = ?", [run_id]).fetchone()  # type: ignore[misc]
    try:
        with pytest.raises(MlwbError, match="changed since it was saved"):
            ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)
        # The same damage with a matching checksum: skops cannot read it.
        with store.transaction() as con:
            con.execute(
                "UPDATE models SET sha256 = ? WHERE run_id = ?",
                [hashlib.sha256(bytes(damaged)).hexdigest(), run_id],
            )
        with pytest.raises(MlwbError, match="not a readable skops model file"):
            ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)
    finally:
        path.write_bytes(original)
        with store.transaction() as con:
            con.execute("UPDATE models SET sha256 = ? WHERE run_id = ?", [sha, run_id])
    assert counts(store) == before


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threshold": 0.0}, "decision threshold must be between 0 and 1"),
        ({"threshold": 1.0}, "decision threshold must be between 0 and 1"),
        ({"threshold": 1.5}, "decision threshold must be between 0 and 1"),
        ({"threshold": -0.2}, "decision threshold must be between 0 and 1"),
        ({"threshold": math.nan}, "decision threshold must be between 0 and 1"),
        ({"resamples": 99}, "resamples must be between 100 and 100,000"),
        ({"resamples": 100_001}, "resamples must be between 100 and 100,000"),
        ({"segments": ["no_such_column"]}, "'no_such_column' is not an input column"),
    ],
)
def test_bad_settings_are_clear_errors_and_store_nothing(
    adult: tuple[ProjectStore, int], settings: dict[str, Any], message: str
) -> None:
    store, run_id = adult
    before = counts(store)
    with pytest.raises(MlwbError, match=message):
        ev.evaluate(store, run_id, importance=False, **{"resamples": RESAMPLES, **settings})
    assert counts(store) == before


def test_unknown_run_is_a_clear_error(adult: tuple[ProjectStore, int]) -> None:
    store, _ = adult
    with pytest.raises(MlwbError, match="there is no run 999"):
        ev.evaluate(store, 999)


@pytest.fixture(scope="module")
def one_class(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    """A time split whose latest 300 rows (the holdout) all earn <=50K."""
    frame = adult_frame(1500)
    income = frame["income"].to_numpy()
    late = np.flatnonzero(income == NEGATIVE)[-300:]
    order = np.r_[np.setdiff1d(np.arange(len(frame)), late), late]
    t = np.empty(len(frame), dtype=np.int64)
    t[order] = np.arange(len(frame))
    store = make_project(
        tmp_path_factory.mktemp("one_class"),
        "adult",
        frame.with_columns(pl.Series("t", t)),
        charter("adult", time_column="t", constraints=[]),
    )
    run_id = train_and_choose(store)
    assert set(holdout(store, run_id).y) == {NEGATIVE}
    return ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)


def test_one_class_holdout_roc_auc_is_undefined_and_says_why(one_class: Evaluation) -> None:
    e = one_class
    auc = e.metric("roc_auc")
    assert auc is not None and auc.model.value is None and auc.model.low is None
    assert auc.model.note.startswith("undefined: the holdout holds one class only")
    assert any("the holdout has no '>50K' rows" in n for n in e.notes), e.notes
    assert e.gate.outcome is GateOutcome.FAIL
    assert e.metric("accuracy").model.value == pytest.approx(  # type: ignore[union-attr]
        e.confusion[0][0] / e.n_holdout
    )


def test_one_class_note_names_the_class_as_the_user_wrote_it(one_class: Evaluation) -> None:
    """The note quotes the class as text, not as a numpy repr (``np.str_('<=50K')``)."""
    auc = one_class.metric("roc_auc")
    assert auc is not None
    assert auc.model.note == "undefined: the holdout holds one class only ('<=50K')"


def test_one_class_holdout_intervals_agree_with_their_point(one_class: Evaluation) -> None:
    """Balanced accuracy with only negatives is the specificity (scikit-learn); its bootstrap
    interval must be about that value, not half of it."""
    m = one_class.metric("balanced_accuracy")
    assert m is not None and m.model.value is not None
    specificity = one_class.confusion[0][0] / sum(one_class.confusion[0])
    assert m.model.value == pytest.approx(specificity)
    assert m.model.low <= m.model.value <= m.model.high, m.model  # type: ignore[operator]


def test_one_class_holdout_metrics_undefined_for_it_say_why(one_class: Evaluation) -> None:
    """With no positive row, recall (0/0) and average precision are undefined, as the
    evaluation's own note says; they should not be shown as 0.0000 without a reason (and
    a value whose interval cannot be computed needs a note either way)."""
    for name in ("recall", "pr_auc"):
        m = one_class.metric(name)
        assert m is not None
        assert m.model.value is None and "undefined" in m.model.note, (name, m.model)
    for m in one_class.metrics:
        if m.model.value is not None and m.model.low is None:
            assert m.model.note, f"{m.name} has a value, no interval and no note"


def zero_target_store(root: Path, time_split: bool) -> tuple[ProjectStore, int]:
    frame = bikes_frame(10)
    if time_split:  # the latest 30 % of hours rent nothing: the whole holdout is zero
        late = pl.col("instant") >= pl.col("instant").quantile(0.7)
        frame = frame.with_columns(pl.when(late).then(0).otherwise(pl.col("cnt")).alias("y0"))
    else:  # the small hours rent nothing
        zero = pl.col("hr").is_in([2, 3, 4])
        frame = frame.with_columns(pl.when(zero).then(0).otherwise(pl.col("cnt")).alias("y0"))
    c = regression_charter("y0", threshold=150, time_column="instant" if time_split else None)
    store = make_project(root, "bikes", frame.drop("cnt"), c)
    return store, train_and_choose(store, "ridge")


def test_mape_skips_zero_targets(tmp_path: Path) -> None:
    store, run_id = zero_target_store(tmp_path, time_split=False)
    e = ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)
    h = holdout(store, run_id)
    y, pred = h.y.astype(float), h.model.predict(h.X)
    nonzero = y != 0
    assert 0 < (~nonzero).sum() < len(y)
    mape = e.metric("mape")
    assert mape is not None and mape.model.low is not None
    assert mape.model.value == pytest.approx(
        skm.mean_absolute_percentage_error(y[nonzero], pred[nonzero]), rel=1e-12
    )
    assert mape.model.high < 100  # the zero rows (eps denominators) are not in it
    assert e.metric("mae").model.value == pytest.approx(skm.mean_absolute_error(y, pred))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def all_zero(tmp_path_factory: pytest.TempPathFactory) -> Evaluation:
    store, run_id = zero_target_store(tmp_path_factory.mktemp("zeros"), time_split=True)
    assert set(holdout(store, run_id).y.astype(float)) == {0.0}
    return ev.evaluate(store, run_id, resamples=RESAMPLES, importance=False)


def test_mape_with_an_all_zero_holdout_is_none_with_a_note(all_zero: Evaluation) -> None:
    mape = all_zero.metric("mape")
    assert mape is not None and mape.model.value is None
    assert mape.model.note == "undefined: every actual value is zero"
    assert all_zero.metric("mae").model.value > 0  # type: ignore[union-attr]


def test_r2_with_a_constant_holdout_target_is_none_with_a_note(all_zero: Evaluation) -> None:
    """R² divides by the target's variance, zero here. The service has the note for it
    ("undefined: the target is constant in the holdout"), but scikit-learn's r2_score returns
    a finite stand-in (force_finite), so the table shows a number with no interval."""
    r2 = all_zero.metric("r2")
    assert r2 is not None
    assert r2.model.value is None and "constant" in r2.model.note, r2.model


# -- reproducibility and the model card ---------------------------------------------------------


def intervals(e: Evaluation) -> list[Any]:
    return [
        (m.name, m.model.low, m.model.high, m.difference and (m.difference.low, m.difference.high))
        for m in e.metrics
    ] + [(s.column, s.value, s.metric.low, s.metric.high) for s in e.segments]


def test_same_seed_same_intervals_other_seed_other_intervals(
    adult: tuple[ProjectStore, int],
) -> None:
    store, run_id = adult
    first = ev.evaluate(store, run_id, threshold=0.5, resamples=RESAMPLES, seed=3, importance=False)
    second = ev.evaluate(
        store, run_id, threshold=0.5, resamples=RESAMPLES, seed=3, importance=False
    )
    other = ev.evaluate(store, run_id, threshold=0.5, resamples=RESAMPLES, seed=4, importance=False)
    assert intervals(first) == intervals(second)
    assert first.metrics == second.metrics and first.segments == second.segments
    assert [m.model.value for m in other.metrics] == [m.model.value for m in first.metrics]
    changed = [
        m.name
        for m, o in zip(first.metrics, other.metrics, strict=True)
        if (m.model.low, m.model.high) != (o.model.low, o.model.high)
    ]
    # Continuous metrics always move; a discrete one (accuracy = k / 300) may land on the
    # same percentiles by chance.
    assert {"roc_auc", "pr_auc", "log_loss", "brier"} <= set(changed)
    assert len(changed) >= len(first.metrics) / 2, changed


def test_model_card_has_the_gate_the_metrics_and_the_charter_version(
    adult: tuple[ProjectStore, int],
) -> None:
    store, run_id = adult
    e = ev.evaluate(store, run_id, resamples=RESAMPLES, seed=8)
    card = model_card(store, run_id)
    assert card.startswith(f"# Model card: Logistic regression (run {run_id})")
    assert f"**Gate: {e.gate.outcome.label}** — {e.gate.summary}" in card
    assert f"judged against charter v{e.charter_version} on 300 holdout rows" in card
    assert "Success: f1 >= 0.65; constraints: recall >= 0.6" in card
    assert f"95% bootstrap intervals, {RESAMPLES:,} resamples, seed 8" in card
    rows = [line for line in card.splitlines() if line.startswith("| ")]
    for m in e.metrics:
        assert m.model.value is not None and m.baseline is not None
        row = f"| {m.label} | {m.model.value:.4f} | {m.model.low:.4f} – {m.model.high:.4f} | "
        row += f"{m.baseline.value:.4f} |"
        assert any(r.startswith(row) for r in rows), row
    for check in e.gate.checks:
        assert f"{check.name}: {check.detail}" in card
    assert "## What the model relies on (permutation importance on 300 rows)" in card
    assert len(e.importance) == len(holdout(store, run_id).X.columns)


def test_model_card_without_an_evaluation_is_a_clear_error(store: ProjectStore) -> None:
    with pytest.raises(MlwbError, match="there is no evaluation to describe yet"):
        model_card(store)
