"""The Train stage service against independent references.

Fold metrics are compared with scikit-learn's own ``cross_validate`` of the same pipeline on
the same folds; the folds with scikit-learn's splitters; the holdout is checked by poisoning
it; time splits by comparing times; reproducibility by rerunning; the Nadeau–Bengio test by
a hand computation with the standard library and ``scipy.stats.t``; the model store by
refitting and by files that must be refused.

The data are small slices of the sample files (a few thousand rows), models are kept light
through ``TrainSettings.params``, and BLAS/OpenMP pools are limited to one thread: on a busy
two-core machine OpenMP's spinning threads made a 30-round gradient boosting fit 20x slower.
The results do not depend on the thread count.
"""

from __future__ import annotations

import hashlib
import math
import statistics
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
import skops.io as sio
from scipy import stats
from sklearn import metrics as skm
from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from threadpoolctl import threadpool_limits
from train_fixtures import (
    POSITIVE,
    adult_frame,
    bikes_frame,
    charter,
    classification_charter,
    holdout_ids,
    make_project,
    regression_charter,
    table_name,
)

from app.domain.metrics import TaskType
from app.domain.training import CANDIDATES, RunStatus, TrainSettings, candidates_for
from app.errors import MlwbError
from app.services import models as model_service
from app.services import training as tr
from app.services.features import build_pipeline
from storage import training as store_runs
from storage.db import ProjectStore

LIGHT: dict[str, dict[str, Any]] = {
    "rf": {"n_estimators": 10, "max_depth": 6},
    "et": {"n_estimators": 10, "max_depth": 6},
    "hgb": {"max_iter": 30},
}
"""Parameters that keep the heavier candidates fast on a few thousand rows."""


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> ProjectStore:
    """3,000 adult rows (trimmed) under the demo charter; only read by the tests using it."""
    return make_project(tmp_path_factory.mktemp("adult"), "adult", adult_frame(), charter("adult"))


@pytest.fixture(scope="module")
def bikes(tmp_path_factory: pytest.TempPathFactory) -> ProjectStore:
    """Every 5th bike hour under the demo charter (time column dteday); dteday is also a
    feature here, so the date parts are part of the pipeline and the loaded frame."""
    return make_project(
        tmp_path_factory.mktemp("bikes"),
        "bikes",
        bikes_frame(),
        charter("bikes"),
        column_roles={"dteday": "feature"},
    )


def runs_of(store: ProjectStore, session: int | None = None) -> list[Any]:
    with store.connect() as con:
        return store_runs.list_runs(con, session=session)


def session_of(store: ProjectStore, session: int) -> Any:
    with store.connect() as con:
        return store_runs.get_session(con, session)


def by_candidate(runs: list[Any]) -> dict[str, Any]:
    found = {r.candidate: r for r in runs}
    assert len(found) == len(runs), [r.candidate for r in runs]
    return found


# -- metrics equal scikit-learn's -----------------------------------------------------------


def positive_roc_auc(y_true: Any, y_score: Any, pos_label: str) -> float:
    """ROC-AUC of the positive class's probability (the scorer picks that column)."""
    return float(skm.roc_auc_score(np.asarray(y_true) == pos_label, y_score))


BINARY_SCORERS: dict[str, Any] = {
    "f1": skm.make_scorer(skm.f1_score, pos_label=POSITIVE, zero_division=0),
    "recall": skm.make_scorer(skm.recall_score, pos_label=POSITIVE, zero_division=0),
    "precision": skm.make_scorer(skm.precision_score, pos_label=POSITIVE, zero_division=0),
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "roc_auc": skm.make_scorer(
        positive_roc_auc, response_method="predict_proba", pos_label=POSITIVE
    ),
    "pr_auc": skm.make_scorer(
        skm.average_precision_score, response_method="predict_proba", pos_label=POSITIVE
    ),
    "log_loss": "neg_log_loss",
    "mcc": "matthews_corrcoef",
}
MULTICLASS_SCORERS: dict[str, Any] = {
    "f1": "f1_macro",
    "recall": "recall_macro",
    "precision": "precision_macro",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy",
    "roc_auc": "roc_auc_ovr",
    "log_loss": "neg_log_loss",
    "mcc": "matthews_corrcoef",
}
REGRESSION_SCORERS: dict[str, Any] = {
    "mae": "neg_mean_absolute_error",
    "rmse": "neg_root_mean_squared_error",
    "r2": "r2",
    "mape": "neg_mean_absolute_percentage_error",
    "median_ae": "neg_median_absolute_error",
}
NEGATED = {"log_loss", "mae", "rmse", "mape", "median_ae"}


def assert_matches_sklearn(data: tr.TrainData, key: str, scorers: dict[str, Any]) -> None:
    spec = CANDIDATES[key]
    params = spec.resolve(LIGHT.get(key))
    run = tr.cross_validate_config(data, spec, params, seed=42, session=0)
    assert run.status is RunStatus.DONE, run.error
    pipeline = build_pipeline(spec, params, data.task, 42, data.features)
    ref = cross_validate(
        pipeline, data.X, data.y, cv=data.folds, scoring=scorers, error_score="raise"
    )
    assert set(run.folds[0].metrics) == set(scorers)  # every metric of the task is compared
    for metric in scorers:
        expected = [(-v if metric in NEGATED else v) for v in ref[f"test_{metric}"]]
        got = run.fold_values(metric)
        assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), metric
        assert run.mean[metric] == pytest.approx(float(np.mean(expected)), rel=1e-12, abs=1e-12)
        assert run.std[metric] == pytest.approx(float(np.std(expected)), rel=1e-12, abs=1e-12)
    assert [f.n_valid for f in run.folds] == [len(v) for _, v in data.folds]
    assert [f.n_train for f in run.folds] == [len(t) for t, _ in data.folds]


@pytest.mark.parametrize("key", ["logreg", "hgb"])
def test_binary_fold_metrics_equal_sklearn(adult: ProjectStore, key: str) -> None:
    data = tr.load_training(adult, cv=3, seed=42)
    assert (data.task, data.cv_kind, len(data.X)) == (TaskType.BINARY, "stratified", 2400)
    expected_folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=42).split(
        data.X, data.y
    )
    for (a, b), (c, d) in zip(data.folds, expected_folds, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    assert_matches_sklearn(data, key, BINARY_SCORERS)


def test_multiclass_fold_metrics_equal_sklearn(tmp_path: Path) -> None:
    store = make_project(
        tmp_path,
        "adult",
        adult_frame(2000).drop("income"),
        classification_charter("relationship", task="multiclass"),
    )
    data = tr.load_training(store, cv=3, seed=42)
    assert data.task is TaskType.MULTICLASS and len(np.unique(data.y)) == 6
    assert_matches_sklearn(data, "logreg", MULTICLASS_SCORERS)


@pytest.mark.parametrize("key", ["ridge", "hgb"])
def test_regression_fold_metrics_equal_sklearn(bikes: ProjectStore, key: str) -> None:
    data = tr.load_training(bikes, cv=3, seed=42)
    assert (data.task, data.cv_kind) == (TaskType.REGRESSION, "time")
    assert data.y.min() > 0  # so MAPE over non-zero rows is scikit-learn's plain MAPE
    assert "dteday" in data.features.dates
    expected_folds = TimeSeriesSplit(n_splits=3).split(data.X)
    for (a, b), (c, d) in zip(data.folds, expected_folds, strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    assert_matches_sklearn(data, key, REGRESSION_SCORERS)


def test_regression_without_time_column_uses_shuffled_kfold(tmp_path: Path) -> None:
    store = make_project(tmp_path, "bikes", bikes_frame(10), regression_charter("cnt"))
    data = tr.load_training(store, cv=3, seed=7)
    assert data.split.kind == "random" and data.cv_kind == "kfold"
    for (a, b), (c, d) in zip(
        data.folds, KFold(n_splits=3, shuffle=True, random_state=7).split(data.X), strict=True
    ):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    assert_matches_sklearn(data, "ridge", REGRESSION_SCORERS)


# -- the holdout is never seen --------------------------------------------------------------


def test_poisoned_holdout_changes_nothing(tmp_path: Path) -> None:
    clean = make_project(tmp_path / "clean", "adult", adult_frame(2000), charter("adult"))
    split = tr.ensure_split(clean)
    hold = holdout_ids(clean, "adult")
    assert split.kind == "stratified" and len(hold) == split.n_holdout == 400
    with clean.connect() as con:
        table = con.sql(f'SELECT * FROM "{table_name(clean, "adult")}" ORDER BY rowid').pl()
    poisoned_rows = pl.Series(np.isin(np.arange(table.height), hold))
    garbage = []
    for name, dtype in table.schema.items():
        if name == "income":
            continue
        value = pl.lit(10**9) if dtype.is_numeric() else pl.lit("POISON")
        garbage.append(pl.when(poisoned_rows).then(value).otherwise(pl.col(name)).alias(name))
    dirty = make_project(tmp_path / "dirty", "adult", table.with_columns(garbage), charter("adult"))
    assert tr.ensure_split(dirty).n_holdout == 400

    # The same target and seed give the same holdout, and it is exactly the poisoned rows.
    assert np.array_equal(holdout_ids(dirty, "adult"), hold)
    with dirty.connect() as con:
        marked = con.execute(
            f"SELECT rowid FROM \"{table_name(dirty, 'adult')}\" WHERE workclass = 'POISON' "
            "AND age = 1000000000 ORDER BY rowid"
        ).fetchnumpy()["rowid"]
    assert np.array_equal(marked, hold)

    a, b = tr.load_training(clean, cv=3), tr.load_training(dirty, cv=3)
    pd.testing.assert_frame_equal(a.X, b.X)
    assert np.array_equal(a.y, b.y)
    settings = TrainSettings(models=["dummy", "logreg", "dt", "hgb"], cv=3, params=LIGHT)
    runs_a = by_candidate(runs_of(clean, tr.train(clean, settings)))
    runs_b = by_candidate(runs_of(dirty, tr.train(dirty, settings)))
    assert set(runs_a) == set(runs_b) == {"dummy", "logreg", "dt", "hgb"}
    for key, run in runs_a.items():
        assert run.status is RunStatus.DONE, run.error
        assert [f.metrics for f in run.folds] == [f.metrics for f in runs_b[key].folds], key


def test_training_rows_and_holdout_partition_the_rows_with_a_target(tmp_path: Path) -> None:
    frame = adult_frame(1500).with_row_index("rid").with_columns(pl.col("rid").cast(pl.Int64))
    frame = frame.with_columns(
        pl.when(pl.col("rid") % 50 == 7).then(None).otherwise(pl.col("income")).alias("income")
    )
    store = make_project(tmp_path, "adult", frame, charter("adult"))
    data = tr.load_training(store, cv=3)
    hold = holdout_ids(store, "adult")
    with store.connect() as con:
        rows = con.execute(
            f'SELECT rowid, rid, income FROM "{table_name(store, "adult")}" ORDER BY rowid'
        ).fetchnumpy()
    with_target = {int(r) for r, y in zip(rows["rid"], rows["income"], strict=True) if y}
    held = {int(r) for r in rows["rid"][np.isin(rows["rowid"], hold)]}
    trained = {int(r) for r in data.X["rid"]}
    assert len(with_target) == 1500 - 30
    assert len(data.X) + len(hold) == len(with_target)
    assert (data.split.n_train, data.split.n_holdout) == (len(data.X), len(hold))
    assert not trained & held
    assert trained | held == with_target
    # The holdout keeps the class shares (stratified): 20 % of each class, rounded.
    shares = Counter(rows["income"][np.isin(rows["rowid"], hold)])
    totals = Counter(y for y in rows["income"] if y)
    for label, total in totals.items():
        assert abs(shares[label] - 0.2 * total) <= 1


# -- time-ordered splits never train on the future ------------------------------------------


def test_time_split_holds_out_the_most_recent_rows(bikes: ProjectStore) -> None:
    data = tr.load_training(bikes, cv=4, seed=42)
    assert data.split.kind == "time" and data.split.time_column == "dteday"
    table = table_name(bikes, "bikes")
    with bikes.connect() as con:
        latest_train, first_held, n_held = con.execute(
            f"SELECT max(dteday) FILTER (WHERE h.row_id IS NULL), "
            f"min(dteday) FILTER (WHERE h.row_id IS NOT NULL), count(h.row_id) "
            f'FROM "{table}" t LEFT JOIN holdout_rows h ON h.row_id = t.rowid '
            "AND h.dataset = 'bikes' AND h.version = 1"
        ).fetchone()
    assert first_held >= latest_train
    assert str(first_held) == data.split.cutoff
    assert n_held == data.split.n_holdout and 0.2 <= n_held / (n_held + len(data.X)) < 0.21
    times = data.X["dteday"].to_numpy()
    assert times.max() < np.datetime64(first_held)
    assert len(data.folds) == 4
    for train_idx, valid_idx in data.folds:
        assert times[train_idx].max() <= times[valid_idx].min()
        assert train_idx.max() < valid_idx.min()


def test_numeric_time_column_holds_out_the_latest_values(tmp_path: Path) -> None:
    """'instant' counts the hours 1..17379: the holdout must be the highest 20 %, compared
    as numbers (as text, '9999' sorts after '13906' and past rows would be held out)."""
    store = make_project(
        tmp_path, "bikes", bikes_frame(), regression_charter("cnt", time_column="instant")
    )
    split = tr.ensure_split(store)
    hold = holdout_ids(store, "bikes")
    with store.connect() as con:
        instant = con.execute(
            f'SELECT rowid, instant FROM "{table_name(store, "bikes")}" ORDER BY rowid'
        ).fetchnumpy()
    held = np.isin(instant["rowid"], hold)
    assert split.kind == "time"
    assert instant["instant"][held].min() > instant["instant"][~held].max()
    assert split.n_holdout == round(0.2 * len(held))


# -- reproducibility, the leaderboard and Nadeau–Bengio --------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, int]:
    """A small adult project with one finished session of five candidates."""
    store = make_project(
        tmp_path_factory.mktemp("trained"), "adult", adult_frame(2000), charter("adult")
    )
    settings = TrainSettings(models=["dummy", "logreg", "nb", "dt", "hgb"], cv=5, params=LIGHT)
    with threadpool_limits(limits=1):
        return store, tr.train(store, settings)


def test_rerun_repeats_fold_metrics_exactly(trained: tuple[ProjectStore, int]) -> None:
    store, session = trained
    originals = by_candidate(runs_of(store, session))
    for key in ("logreg", "hgb"):
        result = model_service.rerun(store, originals[key].id)
        assert result.identical and result.differences == []
        assert result.again.id != originals[key].id and result.again.rerun_of == originals[key].id
        assert [f.metrics for f in result.again.folds] == [f.metrics for f in originals[key].folds]
        stored = store_runs_get(store, result.again.id)
        assert stored.rerun_of == originals[key].id and stored.folds == result.again.folds


def store_runs_get(store: ProjectStore, run_id: int) -> Any:
    with store.connect() as con:
        found = store_runs.get_run(con, run_id)
    assert found is not None
    return found


def test_same_seed_same_metrics_other_seed_other_folds(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(1500), charter("adult"))
    settings = TrainSettings(models=["dummy", "logreg", "dt"], cv=3, params=LIGHT, seed=3)
    first = by_candidate(runs_of(store, tr.train(store, settings)))
    second = by_candidate(runs_of(store, tr.train(store, settings)))
    for key in ("dummy", "logreg", "dt"):
        assert [f.metrics for f in first[key].folds] == [f.metrics for f in second[key].folds]
        assert first[key].seed == 3 and first[key].cv == 3
    other = by_candidate(runs_of(store, tr.train(store, settings.model_copy(update={"seed": 4}))))
    assert [f.metrics for f in other["logreg"].folds] != [f.metrics for f in first["logreg"].folds]


def hand_nadeau_bengio(a: list[float], b: list[float], n_train: float, n_test: float) -> float:
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    k = len(diffs)
    corrected = (1 / k + n_test / n_train) * statistics.variance(diffs)
    t = statistics.fmean(diffs) / math.sqrt(corrected)
    return 2 * float(stats.t.sf(abs(t), df=k - 1))


def test_nadeau_bengio_matches_hand_computation() -> None:
    a = [0.71, 0.69, 0.74, 0.70, 0.72]
    b = [0.69, 0.70, 0.71, 0.66, 0.70]
    # differences 0.02 -0.01 0.03 0.04 0.02: mean 0.02, sample variance 0.0014 / 4 = 0.00035
    t = 0.02 / math.sqrt((1 / 5 + 200 / 800) * 0.00035)
    assert tr.nadeau_bengio(a, b, 800, 200) == pytest.approx(2 * stats.t.sf(t, 4), rel=1e-9)
    assert tr.nadeau_bengio(a, b, 800, 200) == pytest.approx(
        hand_nadeau_bengio(a, b, 800, 200), rel=1e-12
    )
    # The correction makes the test more conservative than the plain paired t-test.
    assert tr.nadeau_bengio(a, b, 800, 200) > stats.ttest_rel(a, b).pvalue
    assert tr.nadeau_bengio(b, a, 800, 200) == pytest.approx(tr.nadeau_bengio(a, b, 800, 200))
    assert tr.nadeau_bengio(a, a, 800, 200) == 1.0
    assert tr.nadeau_bengio([0.1, 0.1], [0.0, 0.0], 10, 5) == 0.0
    assert math.isnan(tr.nadeau_bengio([0.1], [0.2], 10, 5))


def test_leaderboard_ranks_by_primary_metric_with_corrected_p_values(
    trained: tuple[ProjectStore, int],
) -> None:
    store, _ = trained
    board = tr.leaderboard(store)
    assert board.primary == "f1" and board.split is not None
    values = [row.run.mean["f1"] for row in board.rows]
    assert values == sorted(values, reverse=True)
    assert [row.rank for row in board.rows] == list(range(1, len(board.rows) + 1))
    assert {row.run.candidate for row in board.rows} == {"dummy", "logreg", "nb", "dt", "hgb"}
    leader = board.rows[0]
    assert leader.p_value is None and not leader.tied
    n_train = statistics.fmean(f.n_train for f in leader.run.folds)
    n_test = statistics.fmean(f.n_valid for f in leader.run.folds)
    for row in board.rows[1:]:
        expected = hand_nadeau_bengio(
            leader.run.fold_values("f1"), row.run.fold_values("f1"), n_train, n_test
        )
        assert row.p_value == pytest.approx(expected, rel=1e-9)
        assert row.tied == (expected > 0.05)
    dummy = next(row for row in board.rows if row.run.candidate == "dummy")
    assert dummy.rank == len(board.rows) and not dummy.tied  # f1 0: never the positive class


# -- cancel and resume; a failing candidate -------------------------------------------------


def test_cancel_after_a_run_keeps_it_and_resume_runs_only_the_rest(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(1500), charter("adult"))
    settings = TrainSettings(models=["dummy", "logreg", "nb", "dt"], cv=3)
    stop = threading.Event()

    def on_event(event: tr.TrainEvent) -> None:
        if event.kind == "run":
            stop.set()

    with pytest.raises(tr.TrainingCancelled, match="finished runs were kept"):
        tr.train(store, settings, on_event=on_event, should_stop=stop.is_set)
    kept = runs_of(store)
    assert [(r.candidate, r.status) for r in kept] == [("dummy", RunStatus.DONE)]
    session = kept[0].session
    assert session_of(store, session).status == "cancelled"

    finished: list[str] = []

    def collect(event: tr.TrainEvent) -> None:
        if event.kind == "run" and event.run is not None:
            finished.append(event.run.candidate)

    resumed = tr.train(store, settings, on_event=collect, resume=True)
    assert resumed == session
    assert finished == ["logreg", "nb", "dt"]
    runs = runs_of(store, session)
    assert Counter(r.candidate for r in runs) == Counter(["dummy", "logreg", "nb", "dt"])
    assert all(r.status is RunStatus.DONE for r in runs)
    assert runs[0].id == kept[0].id and runs[0].folds == kept[0].folds
    assert session_of(store, session).status == "done"


def test_cancel_mid_fold_records_the_cancelled_run_and_resume_redoes_it(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(1500), charter("adult"))
    settings = TrainSettings(models=["dummy", "logreg", "nb"], cv=3)
    stop = threading.Event()

    def on_event(event: tr.TrainEvent) -> None:
        if event.kind == "fold" and event.candidate == "logreg":
            stop.set()

    with pytest.raises(tr.TrainingCancelled):
        tr.train(store, settings, on_event=on_event, should_stop=stop.is_set)
    kept = runs_of(store)
    assert [(r.candidate, r.status) for r in kept] == [
        ("dummy", RunStatus.DONE),
        ("logreg", RunStatus.CANCELLED),
    ]
    assert kept[1].error == "cancelled after 1 of 3 folds" and len(kept[1].folds) == 1
    session = tr.train(store, settings, resume=True)
    runs = runs_of(store, session)
    done = [r.candidate for r in runs if r.status is RunStatus.DONE]
    assert sorted(done) == ["dummy", "logreg", "nb"]
    assert session_of(store, session).status == "done"
    board = tr.leaderboard(store)
    assert sorted(row.run.candidate for row in board.rows) == ["dummy", "logreg", "nb"]


def test_resume_without_a_session_is_refused(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(300), charter("adult"))
    with pytest.raises(MlwbError, match="there is no training session to resume"):
        tr.train(store, TrainSettings(models=["dummy"]), resume=True)


def test_a_failing_candidate_is_recorded_and_the_others_continue(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=600)
    frame = pl.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=600),
            "kind": rng.choice(["a", "b", "c"], size=600),
            "y": np.maximum(0.0, np.round(3 * x + rng.normal(size=600))),
        }
    )
    assert (frame["y"] == 0).sum() > 100
    store = make_project(tmp_path, "synthetic", frame, regression_charter("y"))
    settings = TrainSettings(
        models=["dummy", "sm_glm", "ridge"], cv=3, params={"sm_glm": {"family": "gamma"}}
    )
    runs = by_candidate(runs_of(store, tr.train(store, settings)))
    assert runs["sm_glm"].status is RunStatus.FAILED
    assert "gamma family needs a target > 0" in (runs["sm_glm"].error or "")
    assert runs["sm_glm"].mean == {}
    assert runs["ridge"].status is RunStatus.DONE and runs["dummy"].status is RunStatus.DONE
    board = tr.leaderboard(store)
    assert [row.run.candidate for row in board.rows] == ["ridge", "dummy"]
    assert [r.candidate for r in board.failed] == ["sm_glm"]


def test_a_candidate_raising_anything_is_recorded_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_project(tmp_path, "adult", adult_frame(600), charter("adult"))
    real = tr.build_pipeline

    def broken(spec: Any, *args: Any) -> Any:
        if spec.key == "dt":
            raise RuntimeError("the tree fell over")
        return real(spec, *args)

    monkeypatch.setattr(tr, "build_pipeline", broken)
    session = tr.train(store, TrainSettings(models=["dummy", "dt", "nb"], cv=3))
    runs = by_candidate(runs_of(store, session))
    assert runs["dt"].status is RunStatus.FAILED
    assert runs["dt"].error == "RuntimeError: the tree fell over"
    assert runs["nb"].status is RunStatus.DONE and runs["dummy"].status is RunStatus.DONE
    assert session_of(store, session).status == "done"


# -- the model store ------------------------------------------------------------------------


def test_choose_saves_a_model_that_predicts_like_a_refit(tmp_path: Path) -> None:
    store = make_project(
        tmp_path, "bikes", bikes_frame(10), charter("bikes"), column_roles={"dteday": "feature"}
    )
    session = tr.train(store, TrainSettings(models=["hgb"], cv=3, params=LIGHT))
    run = by_candidate(runs_of(store, session))["hgb"]
    chosen = model_service.choose(store, run.id)
    assert chosen.path == model_service.model_path(store, run.id) and chosen.path.is_file()
    data = chosen.path.read_bytes()
    assert chosen.sha256 == hashlib.sha256(data).hexdigest() and chosen.bytes == len(data)
    assert model_service.chosen_run(store).id == run.id  # type: ignore[union-attr]

    training = tr.load_training(store, run.cv, run.seed)
    assert chosen.n_rows == len(training.y)
    refit = build_pipeline(
        CANDIDATES["hgb"], run.params, training.task, run.seed, training.features
    )
    refit.fit(training.X, training.y)
    loaded = model_service.load_model(chosen.path, chosen.sha256)
    assert np.array_equal(loaded.predict(training.X), refit.predict(training.X))
    _, again, record = model_service.load_chosen(store)
    assert record["sha256"] == chosen.sha256 and record["features"] == training.features.columns
    assert np.array_equal(again.predict(training.X), refit.predict(training.X))


def test_a_tampered_model_file_is_refused(tmp_path: Path) -> None:
    model = Pipeline([("scale", StandardScaler())]).fit(np.arange(12.0).reshape(6, 2))
    path = tmp_path / "m.skops"
    _, digest = model_service.save_model(model, path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(MlwbError, match="changed since it was saved"):
        model_service.load_model(path, digest)


def shift_by_one(x: Any) -> Any:
    """A function that is not on the allow-list."""
    return x + 1


class Untrusted:
    """A type that is not on the allow-list."""

    def __init__(self) -> None:
        self.value = 1


@pytest.mark.parametrize(
    ("step", "named"),
    [
        (FunctionTransformer(func=shift_by_one), f"{__name__}.shift_by_one"),
        (FunctionTransformer(func=np.log1p, kw_args={"x": Untrusted()}), f"{__name__}.Untrusted"),
        (FunctionTransformer(func=eval), "builtins.eval"),
    ],
)
def test_a_model_file_with_a_type_outside_the_allow_list_is_refused(
    tmp_path: Path, step: Any, named: str
) -> None:
    path = tmp_path / "evil.skops"
    path.write_bytes(sio.dumps(Pipeline([("step", step)])))
    assert any(named in t for t in sio.get_untrusted_types(file=path))
    with pytest.raises(MlwbError, match="outside the allow-list") as caught:
        model_service.load_model(path)
    assert named in caught.value.message


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[TaskType, tr.TrainData]:
    """Training parts of three tiny projects, one per task."""
    root = tmp_path_factory.mktemp("tiny")
    stores = {
        TaskType.BINARY: make_project(root / "b", "adult", adult_frame(1000), charter("adult")),
        TaskType.MULTICLASS: make_project(
            root / "m",
            "adult",
            adult_frame(1000).drop("income"),
            classification_charter("relationship", task="multiclass"),
        ),
        TaskType.REGRESSION: make_project(
            root / "r",
            "bikes",
            bikes_frame(20),
            charter("bikes"),
            column_roles={"dteday": "feature"},
        ),
    }
    return {task: tr.load_training(store, cv=3) for task, store in stores.items()}


ROUND_TRIP = [
    (task, spec.key)
    for task in (TaskType.BINARY, TaskType.MULTICLASS, TaskType.REGRESSION)
    for spec in candidates_for(task)
]


@pytest.mark.parametrize(("task", "key"), ROUND_TRIP, ids=[f"{t.value}-{k}" for t, k in ROUND_TRIP])
def test_every_candidate_survives_the_model_store(
    tiny: dict[TaskType, tr.TrainData], tmp_path: Path, task: TaskType, key: str
) -> None:
    data = tiny[task]
    spec = CANDIDATES[key]
    # alpha > 0 keeps the statsmodels Logit finite on 800 rows with rare one-hot levels.
    params = spec.resolve({**LIGHT.get(key, {}), **({"alpha": 1.0} if key == "sm_logit" else {})})
    model = build_pipeline(spec, params, task, 0, data.features).fit(data.X, data.y)
    size, digest = model_service.save_model(model, tmp_path / f"{key}.skops")
    assert size == (tmp_path / f"{key}.skops").stat().st_size
    loaded = model_service.load_model(tmp_path / f"{key}.skops", digest)
    assert type(loaded[-1]) is type(model[-1])
    if data.task is TaskType.REGRESSION:
        # Forests add tree predictions across threads, in no fixed order.
        np.testing.assert_allclose(
            loaded.predict(data.X), model.predict(data.X), rtol=1e-12, atol=1e-12
        )
    else:
        assert np.array_equal(loaded.predict(data.X), model.predict(data.X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_allclose(
            loaded.predict_proba(data.X), model.predict_proba(data.X), rtol=1e-12, atol=1e-15
        )


def test_interpretable_summary_shows_statsmodels_coefficients(tmp_path: Path) -> None:
    import statsmodels.api as sm

    store = make_project(tmp_path, "bikes", bikes_frame(10), regression_charter("cnt"))
    session = tr.train(store, TrainSettings(models=["dummy", "sm_ols", "ridge"], cv=3))
    runs = by_candidate(runs_of(store, session))
    assert model_service.interpretable_summary(store, runs["ridge"]) is None
    assert model_service.interpretable_summary(store, runs["dummy"]) is None
    text = model_service.interpretable_summary(store, runs["sm_ols"])
    assert text is not None and text.startswith("OLS regression · n = ")

    data = tr.load_training(store, cv=3)
    spec = CANDIDATES["sm_ols"]
    prep = build_pipeline(spec, {}, data.task, 42, data.features)[:-1]
    X = prep.fit_transform(data.X, data.y)
    reference = sm.OLS(data.y, sm.add_constant(X)).fit()
    names = ["const", *prep.get_feature_names_out()]
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    for name, coef, se in zip(names, reference.params, reference.bse, strict=True):
        assert float(lines[name][1]) == pytest.approx(coef, rel=2e-3, abs=1e-6), name
        assert float(lines[name][2]) == pytest.approx(se, rel=2e-3), name
