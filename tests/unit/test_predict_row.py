"""The lean one-row path gives exactly what the batch path gives for the same row.

``Bundle.predict_row`` compiles a tree pipeline (passthrough numbers, ordinal codes) into plain
lookups and calls the model on one float row; anything it does not compile goes through
``Bundle.predict``. Both must agree on every row: prediction, probability to the last bit,
flags and errors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from app.errors import MlwbError
from app.services import bundle as bd
from tests.unit.train_fixtures import (
    adult_frame,
    charter,
    make_project,
    passed_project,
    train_and_choose,
)


def _bundle(store, run_id: int) -> bd.Bundle:
    from app.services import evaluation as ev

    ev.evaluate(store, run_id, resamples=100, importance=False)
    return bd.load_bundle(bd.build_bundle(store, run_id, override_reason="test bundle"))


@pytest.fixture(scope="module")
def hgb(tmp_path_factory: pytest.TempPathFactory) -> bd.Bundle:
    root = tmp_path_factory.mktemp("lean")
    store = make_project(
        root, "adult", adult_frame(1500), charter("adult", threshold=0.3, constraints=[])
    )
    return _bundle(store, train_and_choose(store, model="hgb"))


def _records() -> list[dict]:
    rows = adult_frame(1800).tail(300).drop("income").to_dicts()
    odd = dict(rows[0])
    rows += [
        {**odd, "age": None},
        {**odd, "age": float("nan")},
        {**odd, "age": math.inf},
        {**odd, "age": 200},
        {**odd, "age": -3.5},
        {**odd, "workclass": "Martian"},
        {**odd, "workclass": None},
        {**odd, "workclass": "   "},
        {**odd, "hours-per-week": "abc"},
        {**odd, "hours-per-week": True},
        {**odd, "capital-gain": "12"},
        {**odd, "extra": 1},
    ]
    return rows


def _batch_row(bundle: bd.Bundle, record: dict) -> dict:
    got = bundle.predict([record])
    if len(got.rejects):
        return {"errors": got.rejects["reason"].iloc[0].split("; ")}
    row = got.predictions.iloc[0].to_dict()
    flags = row.pop("flags")
    row.pop("row")
    return {**row, "flags": flags.split("; ") if flags else []}


def test_the_tree_pipeline_compiles_to_the_lean_path(hgb: bd.Bundle) -> None:
    hgb.predict_row(_records()[0])
    assert hgb._lean is not None and hgb._lean.ok


def test_the_boosting_models_own_encoder_is_folded_into_the_lookups(hgb: bd.Bundle) -> None:
    from app.runtime import predictor as rt

    outer = rt._outer_plan(hgb)
    plan = hgb._plan()
    assert plan is not None and outer.estimator is hgb.model.steps[-1][1]
    assert outer.estimator._preprocessor is not None  # the bundle's model is untouched
    assert plan.estimator is not outer.estimator and plan.estimator._preprocessor is None
    categorical = [s for s in plan.slots if s.codes is not None]
    assert categorical  # the estimator's own encoder puts these columns first
    assert sorted(s.position for s in categorical) == list(range(len(categorical)))
    # The folded codes are the estimator's encoder applied to the pipeline's codes.
    inner = outer.estimator._preprocessor.named_transformers_["encoder"]
    first = next(s for s in outer.slots if s.codes is not None)
    folded = next(s for s in plan.slots if s.column.name == first.column.name)
    texts = list(first.codes)
    want = inner.transform(
        np.array([[first.codes[t]] + [np.nan] * (len(inner.categories_) - 1) for t in texts])
    )[:, 0]
    assert [folded.codes[t] for t in texts] == want.tolist()
    # A fold with one code wrong is refused by the check.
    assert folded.codes is not None and len(set(folded.codes.values())) > 1
    a, b = texts[0], next(t for t in texts if folded.codes[t] != folded.codes[texts[0]])
    swapped = {**folded.codes, a: folded.codes[b], b: folded.codes[a]}
    broken = [s._replace(codes=swapped) if s is folded else s for s in plan.slots]
    with pytest.raises(rt._NotLean):
        rt._check_folded(outer.estimator, outer.slots, plan.estimator, broken)
    rt._check_folded(outer.estimator, outer.slots, plan.estimator, plan.slots)


def test_every_row_equals_the_batch_path(hgb: bd.Bundle) -> None:
    records = _records()
    batch = hgb.predict(records)
    assert len(batch.predictions) + len(batch.rejects) == len(records)
    checked = 0
    for record in records:
        one = hgb.predict_row(record)
        alone = _batch_row(hgb, record)
        assert set(one) == set(alone), (record, one, alone)
        for key, value in alone.items():
            if isinstance(value, float):
                assert one[key] == value or (np.isnan(one[key]) and np.isnan(value)), key
            else:
                assert one[key] == value, (key, record)
        checked += 1
    # A batch of all rows gives each row what it gives alone.
    probabilities = batch.predictions.set_index("row")["probability"]
    for i, record in enumerate(records):
        if i in probabilities.index:
            assert hgb.predict_row(record)["probability"] == probabilities[i]
    assert checked == len(records)


def test_contract_breaks_are_errors_and_range_breaks_are_flags(hgb: bd.Bundle) -> None:
    base = _records()[0]
    far = hgb.predict_row({**base, "age": 200})
    assert "prediction" in far and any("age=200 above training max" in f for f in far["flags"])
    unseen = hgb.predict_row({**base, "workclass": "Martian"})
    assert any("'Martian' not seen in training" in f for f in unseen["flags"])
    bad = hgb.predict_row({**base, "hours-per-week": "abc"})
    assert bad == {"errors": ["hours-per-week: 'abc' is not a number"]}


def test_a_missing_column_is_refused_by_name(hgb: bd.Bundle) -> None:
    record = dict(_records()[0])
    del record["age"]
    with pytest.raises(MlwbError, match="age"):
        hgb.predict_row(record)


def test_a_pipeline_the_lean_path_does_not_compile_still_equals_the_batch(tmp_path) -> None:
    store, run_id = passed_project(tmp_path)  # logistic regression: scaled one-hot features
    bundle = _bundle(store, run_id)
    records = _records()[:40]
    batch = bundle.predict(records).predictions
    for i, record in enumerate(records):
        assert bundle.predict_row(record)["probability"] == batch["probability"].iloc[i]
    assert bundle._lean is not None and not bundle._lean.ok


def _typed_frame() -> pl.DataFrame:
    """Adult rows as a typed Polars frame with every kind of break a typed frame can carry:
    nulls, NaN, inf and out-of-range numbers, unseen, blank and missing categories."""
    rows = adult_frame(1800).tail(300).drop("income")
    numbers = ["fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    rows = rows.with_columns(pl.col(numbers).cast(pl.Int64))  # the file's text, typed
    i = pl.int_range(0, rows.height)
    age = pl.col("age").cast(pl.Float64)
    return rows.with_columns(
        age=pl.when(i == 1)
        .then(None)
        .when(i == 2)
        .then(float("nan"))
        .when(i == 3)
        .then(math.inf)
        .when(i == 4)
        .then(200.0)
        .when(i == 5)
        .then(-3.0)  # a fraction in the integer column would go the general way
        .otherwise(age),
        workclass=pl.when(i == 6)
        .then(pl.lit("Martian"))
        .when(i == 7)
        .then(None)
        .when(i == 8)
        .then(pl.lit(" \t\x1c "))  # blank for Python's str.strip (\x1c too)
        .otherwise(pl.col("workclass")),
    )


def _same(got, expected) -> None:
    pd.testing.assert_frame_equal(got.predictions, expected.predictions, check_exact=True)
    pd.testing.assert_frame_equal(got.rejects, expected.rejects, check_exact=True)
    assert got.ignored_columns == expected.ignored_columns
    if expected.features is None:
        assert got.features is None
    else:
        pd.testing.assert_frame_equal(got.features, expected.features, check_exact=True)


def test_a_typed_frame_goes_the_columnar_way_and_equals_the_general_way(hgb: bd.Bundle) -> None:
    frame = _typed_frame()
    batch = hgb.predict_batch(frame)
    assert batch.numbers is not None  # the columnar way scored it
    columnar = batch.prediction()
    general = hgb.predict(frame.to_dicts())  # a list of dicts goes the general way
    assert hgb.predict_batch(frame.to_dicts()).numbers is None
    _same(columnar, general)
    _same(hgb.predict(frame.to_arrow()), general)  # an Arrow table too
    flags = columnar.predictions.set_index("row")["flags"]
    assert "age=200 above training max" in flags[4] and "'Martian' not seen" in flags[6]
    # Missing and blank levels are both the missing level (flagged as one if training had none).
    assert flags[7] == flags[8] and (flags[7] == "" or "'(missing)'" in flags[7])
    # Each row alone (the lean path) equals its row of the columnar batch, bit for bit.
    probabilities = columnar.predictions.set_index("row")["probability"]
    for i, record in enumerate(frame.to_dicts()):
        one = hgb.predict_row(record)
        if i in probabilities.index:
            assert one["probability"] == probabilities[i], (i, record)
        else:
            assert "errors" in one


def test_the_columnar_way_rejects_what_the_general_way_rejects(hgb: bd.Bundle) -> None:
    frame = _typed_frame()
    strict = [c.name for c in hgb.contract.columns if not c.nullable and c.kind == "numeric"]
    if not strict:
        pytest.skip("every numeric column of this bundle may be missing")
    i = pl.int_range(0, frame.height)
    broken = frame.with_columns(
        pl.when(i == 10).then(None).otherwise(pl.col(strict[0])).alias(strict[0])
    )
    batch = hgb.predict_batch(broken)
    assert batch.numbers is not None
    got = batch.prediction()
    _same(got, hgb.predict(broken.to_dicts()))
    assert 10 in set(got.rejects["row"])


def test_values_to_parse_go_the_general_way(hgb: bd.Bundle) -> None:
    frame = _typed_frame().with_columns(pl.col("hours-per-week").cast(pl.String))
    frame = frame.with_columns(
        pl.when(pl.int_range(0, frame.height) == 0)
        .then(pl.lit("abc"))
        .otherwise(pl.col("hours-per-week"))
        .alias("hours-per-week")
    )
    batch = hgb.predict_batch(frame)
    assert batch.numbers is None  # text in a numeric column: parsed the general way
    got = batch.prediction()
    reasons = got.rejects.set_index("row")["reason"]
    assert reasons[0] == "hours-per-week: 'abc' is not a number"
    _same(got, hgb.predict(frame.to_pandas()))


def test_an_empty_typed_frame(hgb: bd.Bundle) -> None:
    frame = _typed_frame()
    empty = hgb.predict(frame.head(0))
    assert len(empty.predictions) == 0 and len(empty.rejects) == 0
    assert list(empty.predictions.columns) == list(hgb._empty().columns)
