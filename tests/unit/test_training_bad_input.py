"""Bad input to the Train stage: each case gets a clear message and leaves the project as it was.

"As it was" is checked with the database bytes, the table list and the row counts of the
event log, runs, sessions, splits and models, before and after the refused call. Cases that
fail after the holdout is drawn lock the holdout first (as any earlier training would have),
so the comparison is about the refused training itself; one test covers a first attempt.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError
from storecheck import snapshot
from threadpoolctl import threadpool_limits
from train_fixtures import (
    SAMPLE,
    adult_frame,
    bikes_frame,
    charter,
    classification_charter,
    counts,
    make_project,
    regression_charter,
    table_name,
)

from app.domain.metrics import TaskType
from app.domain.training import CANDIDATES, PRESETS, ParamKind, TrainSettings, parse_models
from app.errors import MlwbError
from app.services import training as tr
from app.services.features import build_pipeline, feature_names
from storage import training as store_runs
from storage.db import ProjectStore


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield


def state(store: ProjectStore) -> tuple[Any, ...]:
    return snapshot(store), counts(store)


def refused(store: ProjectStore, settings: TrainSettings, pattern: str) -> MlwbError:
    """Train with ``settings``; assert a clear refusal matching ``pattern``, nothing changed."""
    before = state(store)
    with pytest.raises(MlwbError) as caught:
        tr.train(store, settings)
    error = caught.value
    assert isinstance(error, MlwbError), type(error)
    assert re.search(pattern, error.message), error.message
    assert "\n" not in error.one_line() and "Traceback" not in error.one_line()
    assert state(store) == before
    return error


DUMMY = TrainSettings(models=["dummy"], cv=3)


# -- the charter and the target --------------------------------------------------------------


def test_no_charter_means_no_target(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(300), None)
    error = refused(store, DUMMY, r"^there is no charter, so there is no target to train for$")
    assert "mlwb problem set" in error.hint
    with pytest.raises(MlwbError, match="no charter"):
        tr.leaderboard(store)


def test_no_data(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", None, charter("adult"))
    error = refused(store, DUMMY, r"^there is no data to train on$")
    assert "mlwb data import" in error.hint


def test_target_that_is_not_a_column(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(300), charter("adult", target="salary"))
    refused(store, DUMMY, r"the charter's target 'salary' is not a column of adult@1")


def test_target_with_one_class(tmp_path: Path) -> None:
    frame = adult_frame(300).with_columns(pl.lit(">50K").alias("income"))
    store = make_project(tmp_path, "adult", frame, charter("adult"))
    error = refused(store, DUMMY, r"the target 'income' has one class only \('>50K'\) in adult@1")
    assert "two classes" in error.hint


def test_multiclass_target_with_one_class(tmp_path: Path) -> None:
    frame = adult_frame(300).with_columns(pl.lit("Husband").alias("relationship"))
    store = make_project(
        tmp_path, "adult", frame, classification_charter("relationship", task="multiclass")
    )
    refused(store, DUMMY, r"has one class only \('Husband'\)")


def test_target_all_missing(tmp_path: Path) -> None:
    frame = adult_frame(300).with_columns(pl.lit(None, dtype=pl.String).alias("income"))
    store = make_project(tmp_path, "adult", frame, charter("adult"))
    refused(store, DUMMY, r"every value of the target 'income' is missing in adult@1")


def test_regression_target_that_is_text(tmp_path: Path) -> None:
    frame = bikes_frame(20).with_columns(("n" + pl.col("cnt").cast(pl.String)).alias("cnt"))
    store = make_project(tmp_path, "bikes", frame, charter("bikes"))
    error = refused(store, DUMMY, r"the target 'cnt' is VARCHAR, but regression needs numbers")
    assert "cast" in error.hint


def test_positive_class_not_in_the_raw_data(tmp_path: Path) -> None:
    """adult.csv as shipped has ' >50K' (leading space); the charter says '>50K'."""
    raw = pl.read_csv(SAMPLE / "adult.csv", n_rows=300)
    store = make_project(tmp_path, "adult", raw, charter("adult"))
    error = refused(store, DUMMY, r"positive class '>50K' is not a value of 'income'")
    assert "' >50K'" in error.message and "trim whitespace" in error.hint


# -- too few rows ----------------------------------------------------------------------------


def test_fewer_rows_than_folds(tmp_path: Path) -> None:
    frame = bikes_frame(20).head(8)
    store = make_project(tmp_path, "bikes", frame, regression_charter("cnt"))
    assert tr.ensure_split(store).n_train == 6
    error = refused(
        store, TrainSettings(models=["dummy"], cv=10), r"training part has 6 row\(s\), too few"
    )
    assert "10 folds" in error.message and "--cv 3" in error.hint
    session = tr.train(store, TrainSettings(models=["dummy"], cv=3))  # the hint works
    assert session > 0


def test_fewer_rows_than_folds_in_a_time_split(tmp_path: Path) -> None:
    frame = bikes_frame(100).head(12)  # 12 different days
    store = make_project(tmp_path, "bikes", frame, charter("bikes"))
    split = tr.ensure_split(store)
    assert (split.kind, split.n_train, split.n_holdout) == ("time", 10, 2)
    error = refused(store, TrainSettings(models=["dummy"], cv=6), r"has 10 row\(s\), too few")
    assert "--cv 5" in error.hint
    tr.train(store, TrainSettings(models=["dummy"], cv=5))


def test_too_few_rows_per_class_suggests_a_smaller_cv(tmp_path: Path) -> None:
    frame = adult_frame(3000)
    rich = frame.filter(pl.col("income") == ">50K").head(6)
    frame = pl.concat([frame.filter(pl.col("income") == "<=50K").head(194), rich])
    store = make_project(tmp_path, "adult", frame, charter("adult"))
    split = tr.ensure_split(store)
    assert split.n_holdout == 40
    error = refused(
        store,
        TrainSettings(models=["dummy"], cv=10),
        r"class\(es\) '>50K' \(5\) of the target have fewer training rows than the 10 folds",
    )
    found = re.search(r"--cv (\d+)", error.hint)
    assert found and found[1] == "5"
    tr.train(store, TrainSettings(models=["dummy"], cv=int(found[1])))  # the hint works


def test_many_classes_and_few_rows_get_a_clear_message(tmp_path: Path) -> None:
    """10 classes of 3 rows: a 20 % holdout (6 rows) cannot hold every class. The refusal
    must be an MlwbError, not scikit-learn's ValueError from StratifiedShuffleSplit."""
    frame = pl.DataFrame({"x": np.arange(30.0), "y": [f"c{i % 10}" for i in range(30)]})
    store = make_project(tmp_path, "toy", frame, classification_charter("y", task="multiclass"))
    refused(store, DUMMY, r"class")


# -- features ----------------------------------------------------------------------------------


def test_all_features_dropped_by_role(tmp_path: Path) -> None:
    frame = adult_frame(300)
    ignore = {c: "ignore" for c in frame.columns if c != "income"}
    store = make_project(tmp_path, "adult", frame, charter("adult"), column_roles=ignore)
    tr.ensure_split(store)
    error = refused(store, DUMMY, r"adult@1 has no feature columns")
    assert "feature" in error.hint


def test_all_features_constant(tmp_path: Path) -> None:
    frame = adult_frame(300).select(
        pl.lit(1).alias("one"),
        pl.lit("same").alias("word"),
        pl.lit(None, dtype=pl.Float64).alias("nothing"),
        "income",
    )
    store = make_project(tmp_path, "adult", frame, charter("adult"))
    tr.ensure_split(store)
    refused(store, DUMMY, r"every feature of adult@1 is constant \(or entirely missing\)")


def test_constant_features_are_left_out_with_a_note(tmp_path: Path) -> None:
    frame = adult_frame(600).with_columns(pl.lit(7).alias("seven"))
    store = make_project(tmp_path, "adult", frame, charter("adult"))
    session = tr.train(store, TrainSettings(models=["dummy", "nb"], cv=3))
    with store.connect() as con:
        runs = store_runs.list_runs(con, session=session)
    assert all("left out constant column(s): seven" in r.notes for r in runs)
    data = tr.load_training(store, cv=3)
    assert "seven" not in data.features.columns
    assert data.features.excluded["seven"] == "constant in the training part"
    spec = CANDIDATES["nb"]
    fitted = build_pipeline(spec, spec.defaults(), data.task, 0, data.features).fit(data.X, data.y)
    assert not any("seven" in name for name in feature_names(fitted))


def test_ten_thousand_level_categorical_trains_with_a_note(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 12_500
    codes = np.concatenate([np.arange(10_000), rng.integers(0, 10_000, n - 10_000)])
    x = rng.normal(size=n)
    frame = pl.DataFrame(
        {
            "code": [f"k{c:05d}" for c in rng.permutation(codes)],
            "x": x,
            "label": np.where(x + rng.normal(size=n) > 0.5, "high", "low"),
        }
    )
    store = make_project(tmp_path, "wide", frame, classification_charter("label", positive="high"))
    session = tr.train(store, TrainSettings(models=["dummy", "logreg", "dt"], cv=3))
    with store.connect() as con:
        runs = store_runs.list_runs(con, session=session)
    assert [r.status.value for r in runs] == ["done", "done", "done"], [r.error for r in runs]
    exact = tr.load_training(store, cv=3).X["code"].nunique()
    assert exact > 8_000
    for run in runs:
        note = next(n for n in run.notes if n.startswith("'code' has"))
        levels = int(re.search(r"has ([\d,]+) levels", note)[1].replace(",", ""))  # type: ignore[index]
        assert abs(levels - exact) < 0.05 * exact  # DuckDB's approximate distinct count
        assert "one-hot keeps the 50 most frequent" in note
    logreg = next(r for r in runs if r.candidate == "logreg")
    assert logreg.mean["roc_auc"] > 0.7  # x still carries the signal
    data = tr.load_training(store, cv=3)
    pipeline = build_pipeline(
        CANDIDATES["logreg"], {"C": 1.0, "class_weight": None}, data.task, 0, data.features
    ).fit(data.X, data.y)
    encoded = pipeline[:-1].transform(data.X.head(5))
    assert encoded.shape[1] <= 1 + 1 + 50  # x, its missing indicator, at most 50 code columns


# -- parameters --------------------------------------------------------------------------------


def test_parameter_out_of_range_names_the_parameter_and_its_range() -> None:
    rf = CANDIDATES["rf"]
    with pytest.raises(ValueError) as caught:
        rf.resolve({"n_estimators": 0})
    assert str(caught.value) == "rf: n_estimators must be int in [10, 500]; 0 is outside it"
    with pytest.raises(ValueError) as caught:
        rf.resolve({"n_estimators": "5000", "max_samples": "1.5", "trees": 3})
    assert str(caught.value) == (
        "rf: n_estimators must be int in [10, 500]; '5000' is outside it; "
        "rf: max_samples must be float in [0.05, 1]; '1.5' is outside it; "
        "rf has no parameter 'trees' (it has: n_estimators, max_depth, min_samples_leaf, "
        "max_samples, max_features)"
    )
    assert rf.resolve({"n_estimators": " 200 ", "max_features": "0.5"}) == {
        **rf.defaults(),
        "n_estimators": 200,
        "max_features": 0.5,
    }


@pytest.mark.parametrize(
    ("model", "param", "raw", "message"),
    [
        (
            "logreg",
            "C",
            "abc",
            "C must be a number (float in [0.0001, 1000], log scale), not 'abc'",
        ),
        ("logreg", "C", "nan", "C must be a number, not NaN"),
        ("logreg", "C", 0, "C must be float in [0.0001, 1000], log scale; 0 is outside it"),
        ("dt", "max_depth", "2.5", "max_depth must be a whole number, not '2.5'"),
        ("rf", "max_features", "all", "max_features must be one of sqrt, log2, 0.5, 1, not 'all'"),
        ("logreg", "class_weight", "weighted", "class_weight must be one of none, balanced"),
        ("sm_glm", "family", "binomial", "family must be one of gaussian, poisson, gamma"),
        ("hgb", "learning_rate", "1", "learning_rate must be float in [0.01, 0.5], log scale"),
    ],
)
def test_bad_parameter_values(model: str, param: str, raw: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        CANDIDATES[model].param(param).parse(raw)
    assert str(caught.value).startswith(message), str(caught.value)


def test_choice_and_bool_parameters_accept_their_text() -> None:
    assert CANDIDATES["logreg"].param("class_weight").parse("none") is None
    assert CANDIDATES["logreg"].param("class_weight").parse("balanced") == "balanced"
    assert CANDIDATES["rf"].param("max_features").parse("1") == 1.0


def test_random_search_samples_are_valid_and_seeded() -> None:
    for spec in CANDIDATES.values():
        for p in spec.params:
            rng = random.Random(f"check:{spec.key}:{p.name}")
            for _ in range(200):
                value = p.sample(rng)
                assert p.parse(value) == value, (spec.key, p.name, value)
                if p.kind in (ParamKind.INT, ParamKind.FLOAT) and p.search:
                    assert p.low <= value <= p.high  # type: ignore[operator]
    rf = CANDIDATES["rf"]
    trials = tr.trial_params(rf, rf.defaults(), seed=5, count=8)
    assert trials[0] == rf.defaults() and len(trials) == 8
    assert len({repr(sorted(t.items())) for t in trials}) == 8
    assert tr.trial_params(rf, rf.defaults(), seed=5, count=8) == trials
    assert tr.trial_params(rf, rf.defaults(), seed=6, count=8) != trials
    glm = CANDIDATES["sm_glm"]
    assert tr.trial_params(glm, glm.resolve({"family": "gamma"}), 1, 5) == [{"family": "gamma"}]


def test_train_refuses_bad_parameters_and_unfitting_models(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(300), charter("adult"))
    error = refused(
        store,
        TrainSettings(
            models=["dummy", "rf"], params={"rf": {"n_estimators": 0}, "hgb": {"max_iter": 5}}
        ),
        r"rf: n_estimators must be int in \[10, 500\]; 0 is outside it",
    )
    assert "hgb: max_iter must be int in [20, 1000]; 5 is outside it" in error.message
    refused(
        store,
        TrainSettings(models=["dummy", "linreg"]),
        r"linreg \(Linear regression\) does not fit binary classification",
    )
    refused(
        store,
        TrainSettings(models=["dummy"], params={"nope": {"a": 1}}),
        r"parameters given for unknown model 'nope'",
    )


def test_settings_and_model_lists_are_validated() -> None:
    with pytest.raises(ValidationError, match="unknown model\\(s\\): nope"):
        TrainSettings(models=["nope"])
    for cv in (1, 21):
        with pytest.raises(ValidationError, match="cv"):
            TrainSettings(models=["dummy"], cv=cv)
    with pytest.raises(ValueError) as caught:
        parse_models("logreg,nope,linreg", TaskType.BINARY)
    assert str(caught.value) == (
        "unknown model 'nope'; models for binary classification: dummy, logreg, knn, nb, dt, "
        "rf, et, hgb, svm, sm_logit; linreg (Linear regression) does not fit binary "
        "classification"
    )
    assert parse_models("hgb, quick", TaskType.REGRESSION) == ["dummy", "hgb", "ridge", "rf"]
    assert parse_models("thorough", TaskType.BINARY) == list(PRESETS["thorough"][TaskType.BINARY])


# -- two trainings at once ---------------------------------------------------------------------


def test_a_second_training_in_the_same_process_is_refused(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(600), charter("adult"))
    inside = threading.Event()
    release = threading.Event()
    outcome: dict[str, Any] = {}

    def on_event(event: tr.TrainEvent) -> None:
        if event.kind == "fold" and not inside.is_set():
            inside.set()
            release.wait(timeout=120)

    def first() -> None:
        try:
            outcome["session"] = tr.train(store, DUMMY, on_event=on_event)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert inside.wait(timeout=120), outcome
        with pytest.raises(MlwbError) as caught:
            tr.train(store, TrainSettings(models=["dummy", "nb"], cv=3))
        assert caught.value.message == "a training is already running in this window"
        assert "cancel" in caught.value.hint
    finally:
        release.set()
        worker.join(timeout=120)
    assert "error" not in outcome, outcome.get("error")
    with store.connect() as con:
        sessions = con.execute("SELECT id, status FROM train_sessions").fetchall()
        runs = store_runs.list_runs(con)
    assert sessions == [(outcome["session"], "done")]
    assert [r.candidate for r in runs] == ["dummy"]


def test_a_session_running_in_another_live_process_is_refused(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(300), charter("adult"))
    other = os.getppid()  # alive while this test runs
    with store.transaction() as con:
        session = store_runs.start_session(con, "adult", 1, DUMMY, other)
    error = refused(
        store,
        DUMMY,
        rf"a training \(session {session}\) is already running in this project \(pid {other}\)",
    )
    assert "wait for it to finish" in error.hint


def test_a_session_of_a_dead_process_is_closed_as_failed(tmp_path: Path) -> None:
    store = make_project(tmp_path, "adult", adult_frame(300), charter("adult"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with store.transaction() as con:
        stale = store_runs.start_session(con, "adult", 1, DUMMY, gone.pid)
    session = tr.train(store, DUMMY)
    with store.connect() as con:
        assert store_runs.get_session(con, stale).status == "failed"  # type: ignore[union-attr]
        assert store_runs.get_session(con, session).status == "done"  # type: ignore[union-attr]


# -- more awkward data -------------------------------------------------------------------------


def test_time_column_with_missing_values(tmp_path: Path) -> None:
    """Some dteday values are missing: the split must either refuse with a clear message or
    hold out only rows later than every training row (never crash with a TypeError)."""
    frame = bikes_frame(5).with_columns(
        pl.when(pl.col("instant") % 7 == 1).then(None).otherwise(pl.col("dteday")).alias("dteday")
    )
    store = make_project(tmp_path, "bikes", frame, charter("bikes"))
    try:
        split = tr.ensure_split(store)
    except MlwbError as exc:
        assert "dteday" in exc.message
        return
    with store.connect() as con:
        latest_train, first_held = con.execute(
            "SELECT max(dteday) FILTER (WHERE h.row_id IS NULL), "
            "min(dteday) FILTER (WHERE h.row_id IS NOT NULL) "
            f'FROM "{table_name(store, "bikes")}" t '
            "LEFT JOIN holdout_rows h ON h.row_id = t.rowid"
        ).fetchone()
    assert split.kind == "time" and first_held > latest_train


def test_target_name_with_a_comma(tmp_path: Path) -> None:
    frame = adult_frame(600).rename({"income": "income, yearly"})
    store = make_project(tmp_path, "adult", frame, charter("adult", target="income, yearly"))
    data = tr.load_training(store, cv=3)
    assert data.features.target == "income, yearly" and len(data.X.columns) == 14
    assert set(np.unique(data.y)) == {"<=50K", ">50K"}


def test_a_refused_first_training_locks_no_holdout(tmp_path: Path) -> None:
    """Too many folds for the data: the refusal should leave no trace, including no holdout
    locked (with the failed attempt's seed) and no 'holdout locked' event."""
    store = make_project(tmp_path, "bikes", bikes_frame(20).head(8), regression_charter("cnt"))
    refused(store, TrainSettings(models=["dummy"], cv=10, seed=9), r"too few for 10 folds")
