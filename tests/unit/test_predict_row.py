"""The lean one-row path gives exactly what the batch path gives for the same row.

``Bundle.predict_row`` compiles a tree pipeline (passthrough numbers, ordinal codes) into plain
lookups and calls the model on one float row; anything it does not compile goes through
``Bundle.predict``. Both must agree on every row: prediction, probability to the last bit,
flags and errors.
"""

from __future__ import annotations

import math

import numpy as np
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
