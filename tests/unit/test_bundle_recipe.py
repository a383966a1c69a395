"""A bundle replays the row-wise recipe on raw rows, and one row scores like a batch.

The project imports adult.csv as it is (values with a leading space, ``?`` for missing) and
cleans it with row-wise steps (trim, markers to null, a derived column, a rename) and one
dataset-level step (drop duplicates). New raw rows from the same file must be scored like
the cleaned rows they become, with no flag for values the recipe repairs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from app.errors import MlwbError
from app.runtime.contract import RawInput
from app.services import bundle as bd
from app.services import cleaning
from tests.unit.train_fixtures import SAMPLE, charter, make_project, train_and_choose

RAW_ROWS = 1200


@pytest.fixture(scope="module")
def recipe_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[bd.Bundle, pl.DataFrame]:
    from app.services import evaluation as ev

    root = tmp_path_factory.mktemp("recipe")
    raw = pl.read_csv(SAMPLE / "adult.csv").head(RAW_ROWS)
    store = make_project(root, "adult", raw, charter("adult", threshold=0.3, constraints=[]))
    for step in (
        {"kind": "trim_whitespace"},
        {"kind": "null_markers", "markers": ["?"]},
        {"kind": "drop_duplicates"},
        {"kind": "derive_column", "name": "hours_x_age", "expression": '"hours-per-week" * age'},
        {"kind": "rename", "mapping": {"education-num": "education_years"}},
        {"kind": "drop_columns", "columns": ["fnlwgt"]},
    ):
        cleaning.add_step(store, "adult", step)
    run_id = train_and_choose(store, model="hgb")
    ev.evaluate(store, run_id, resamples=100, importance=False)
    path = bd.build_bundle(store, run_id, override_reason="test bundle")
    return bd.load_bundle(path), raw


def test_raw_input_lists_the_row_wise_steps_and_the_columns_features_need(recipe_bundle):
    bundle, raw = recipe_bundle
    spec = bundle.raw
    assert isinstance(spec, RawInput)
    assert [s["kind"] for s in spec.steps] == [
        "trim_whitespace",
        "null_markers",
        "derive_column",
        "rename",
        "drop_columns",
    ]
    assert list(spec.columns) == raw.columns
    # fnlwgt is dropped and income is the target: no feature needs them.
    assert "fnlwgt" not in spec.required and "income" not in spec.required
    # The derived and renamed features trace back to their raw columns.
    assert {"hours-per-week", "age", "education-num", "workclass"} <= set(spec.required)


def test_raw_rows_are_cleaned_before_the_contract(recipe_bundle):
    bundle, raw = recipe_bundle
    rows = raw.drop("income").head(300)
    assert rows["workclass"][0] == " State-gov"  # the file's own leading space
    got = bundle.predict(rows)
    assert len(got.rejects) == 0
    flagged = [f for f in got.predictions["flags"] if "not seen in training" in f]
    # Only levels the training part never had (rows of the holdout) are flagged, never a
    # value the trim step repairs.
    assert len(flagged) < 5, flagged
    assert not any("=' " in f for f in flagged), flagged


def test_replayed_raw_rows_score_like_the_cleaned_rows(recipe_bundle):
    bundle, raw = recipe_bundle
    rows = raw.drop("income").head(300)
    numbers = [c for c, t in bundle.raw.columns.items() if t == "Int64" and c in rows.columns]
    cleaned = rows.with_columns(pl.col(pl.String).str.strip_chars())
    cleaned = cleaned.with_columns([pl.col(c).cast(pl.Int64) for c in numbers])
    cleaned = cleaned.with_columns(
        [
            pl.when(pl.col(c) == "?").then(None).otherwise(pl.col(c)).alias(c)
            for c in [c for c, t in cleaned.schema.items() if t == pl.String]
        ]
    )
    cleaned = cleaned.with_columns(
        (pl.col("hours-per-week") * pl.col("age")).alias("hours_x_age")
    ).rename({"education-num": "education_years"})
    X = cleaned.select([c.name for c in bundle.contract.columns]).to_pandas()
    for c in bundle.contract.columns:
        if c.kind == "categorical":
            X[c.name] = X[c.name].fillna("(missing)").astype(object)
        else:
            X[c.name] = X[c.name].astype(float)
    positive = list(np.asarray(bundle.model.classes_).astype(str)).index(">50K")
    expected = bundle.model.predict_proba(X)[:, positive]
    got = bundle.predict(rows).predictions["probability"].to_numpy()
    np.testing.assert_array_equal(got, expected)


def test_a_missing_raw_column_a_feature_needs_is_named(recipe_bundle):
    bundle, raw = recipe_bundle
    with pytest.raises(MlwbError, match="education-num"):
        bundle.predict(raw.drop("income", "education-num").head(5))


def test_a_raw_column_no_feature_needs_may_be_left_out(recipe_bundle):
    bundle, raw = recipe_bundle
    got = bundle.predict(raw.drop("income", "fnlwgt").head(20))
    assert len(got.predictions) == 20 and len(got.rejects) == 0


def test_a_bad_raw_number_is_a_reject_with_its_reason(recipe_bundle):
    bundle, raw = recipe_bundle
    rows = raw.drop("income").head(3).to_dicts()
    rows[1]["age"] = "abc"
    got = bundle.predict(rows)
    assert got.rejects["row"].tolist() == [1]
    assert "age: 'abc' is not a number" in got.rejects["reason"].iloc[0]
    assert got.predictions["row"].tolist() == [0, 2]


def test_one_row_equals_the_batch_path_through_the_recipe(recipe_bundle):
    bundle, raw = recipe_bundle
    rows = raw.drop("income").head(40).to_dicts()
    batch = bundle.predict(rows).predictions
    for i, record in enumerate(rows):
        one = bundle.predict_row(record)
        assert one["prediction"] == batch["prediction"].iloc[i]
        assert one["probability"] == batch["probability"].iloc[i]


def test_bundle_files_include_the_raw_input(recipe_bundle):
    bundle, _ = recipe_bundle
    assert "raw_input.json" in bundle.manifest.files
    assert Path(bundle.path, "raw_input.json").is_file()
