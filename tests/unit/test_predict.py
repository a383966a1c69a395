"""Batch scoring (``predict_file``), the Python API and ``mlwb predict``.

Predictions from files read in several chunks are checked against ``Bundle.predict`` on the
whole frame and against the stored model's ``predict_proba`` with the bundle's threshold.
Bad input: rows breaking the contract (rejects with row numbers), an unwritable output path,
a malformed file, an empty file, a cancelled run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from threadpoolctl import threadpool_limits
from train_fixtures import (
    POSITIVE,
    adult_frame,
    passed_project,
)

from app.errors import MlwbError
from app.services import bundle as bd
from app.services import evaluation as ev
from app.services import models as model_service
from app.services import predict as pr
from storage import training as store_runs
from storage.db import ProjectStore

N = 2_300
CHUNK = 500


@pytest.fixture(autouse=True, scope="module")
def _fast() -> Iterator[None]:
    with threadpool_limits(limits=1), pytest.MonkeyPatch.context() as mp:
        mp.setattr(ev, "LATENCY_CALLS", 10)
        yield


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, int]:
    return passed_project(tmp_path_factory.mktemp("adult"))


@pytest.fixture(scope="module")
def built(adult: tuple[ProjectStore, int], tmp_path_factory: pytest.TempPathFactory) -> Path:
    store, run_id = adult
    return bd.build_bundle(store, run_id, tmp_path_factory.mktemp("bundles"))


@pytest.fixture(scope="module")
def loaded(built: Path) -> bd.Bundle:
    return pr.load(built)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    """N adult rows (the target column stays, ignored) with a ``customer_id`` column."""
    rows = adult_frame(N)
    return rows.with_columns(customer_id=pl.int_range(1000, 1000 + N)).select(
        "customer_id", pl.exclude("customer_id")
    )


def stored_model(adult: tuple[ProjectStore, int]) -> Any:
    store, run_id = adult
    with store.connect() as con:
        record = store_runs.get_model(con, run_id)
    assert record is not None
    return model_service.load_model(store.root / record["path"], record["sha256"])


def read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".ndjson":
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


def assert_matches(out: pd.DataFrame, loaded: bd.Bundle, frame: pl.DataFrame, model: Any) -> None:
    whole = loaded.predict(frame).predictions
    assert list(out["row"]) == [r + 1 for r in whole["row"]]
    assert list(out["customer_id"]) == [frame["customer_id"][r] for r in whole["row"]]
    assert list(out["prediction"].astype(str)) == list(whole["prediction"])
    np.testing.assert_allclose(out["probability"], whole["probability"], rtol=0, atol=1e-12)
    assert list(out["flags"].fillna("")) == list(whole["flags"])
    # And the stored model with the bundle's threshold.
    column = list(np.asarray(model.classes_).astype(str)).index(POSITIVE)
    X = frame.to_pandas().iloc[whole["row"].to_numpy()]
    names = [c.name for c in loaded.contract.columns]
    p = model.predict_proba(X[names])[:, column]
    t = loaded.metadata.threshold
    assert t is not None and (out["threshold"] == t).all()
    np.testing.assert_allclose(out["probability"], p, rtol=0, atol=1e-12)
    assert list(out["prediction"].astype(str)) == list(np.where(p >= t, POSITIVE, "<=50K"))


@pytest.mark.parametrize("fmt", ["csv", "parquet", "ndjson"])
def test_chunks_match_whole_frame(
    fmt: str,
    loaded: bd.Bundle,
    built: Path,
    frame: pl.DataFrame,
    adult: tuple[ProjectStore, int],
    tmp_path: Path,
) -> None:
    source = tmp_path / f"in.{fmt}"
    {"csv": frame.write_csv, "parquet": frame.write_parquet, "ndjson": frame.write_ndjson}[fmt](
        source
    )
    output = tmp_path / f"out.{fmt}"
    seen: list[float] = []
    summary = pr.predict_file(
        built, source, output, chunk_rows=CHUNK, on_progress=lambda f, _: seen.append(f)
    )
    assert summary.rows_in == N and summary.rows_scored + summary.rows_rejected == N
    assert summary.id_column == "customer_id" and "income" in summary.ignored_columns
    assert summary.rejects == tmp_path / f"out.rejects.{'csv'}"
    assert len(seen) >= N // CHUNK + 1 and seen[-1] == 1.0
    out = read(output)
    assert list(out.columns) == [
        "row",
        "customer_id",
        "prediction",
        "probability",
        "threshold",
        "flags",
    ]
    assert len(out) == summary.rows_scored
    assert_matches(out, loaded, frame, stored_model(adult))
    assert summary.flagged == int((out["flags"].fillna("") != "").sum())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [source.name, output.name, "out.rejects.csv"]
    )


def test_rejects_have_row_numbers_and_reasons(
    built: Path, loaded: bd.Bundle, frame: pl.DataFrame, tmp_path: Path
) -> None:
    # Break rows in different chunks; CSV text so "abc" sits in a numeric column.
    text = frame.to_pandas().astype(object)
    bad = {3: "abc", 777: "ten", 2100: "x1"}
    for i, v in bad.items():
        text.loc[i, "age"] = v
    source = tmp_path / "in.csv"
    text.to_csv(source, index=False)
    summary = pr.predict_file(
        built, source, tmp_path / "out.parquet", tmp_path / "bad.csv", chunk_rows=CHUNK
    )
    assert summary.rows_rejected == 3 and summary.rows_scored == N - 3
    rejects = pd.read_csv(tmp_path / "bad.csv")
    assert list(rejects.columns) == ["row", "customer_id", "reason"]
    assert list(rejects["row"]) == [i + 1 for i in bad]
    assert list(rejects["customer_id"]) == [1000 + i for i in bad]
    for reason, value in zip(rejects["reason"], bad.values(), strict=True):
        assert reason.startswith("age:") and repr(value) in reason
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert not set(out["row"]) & {i + 1 for i in bad}
    # Scored rows equal the bundle on the frame without the bad rows.
    good = frame.filter(~pl.int_range(0, N).is_in(list(bad)))
    whole = loaded.predict(good).predictions
    np.testing.assert_allclose(out["probability"], whole["probability"], rtol=0, atol=1e-12)


def test_empty_input(built: Path, frame: pl.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    frame.head(0).write_csv(source)
    for name in ("out.csv", "out.parquet"):
        summary = pr.predict_file(built, source, tmp_path / name, chunk_rows=CHUNK)
        assert summary[:4] == (0, 0, 0, 0)
        out = read(tmp_path / name)
        assert out.empty and "prediction" in out.columns and "customer_id" in out.columns
    assert pd.read_csv(tmp_path / "out.rejects.csv").columns.tolist() == [
        "row",
        "customer_id",
        "reason",
    ]
    # A file of zero bytes, in each format that allows it.
    for name in ("zero.csv", "zero.ndjson"):
        (tmp_path / name).touch()
        summary = pr.predict_file(built, tmp_path / name, tmp_path / "zero-out.csv")
        assert summary[:4] == (0, 0, 0, 0) and summary.ignored_columns == ()
        out = pd.read_csv(tmp_path / "zero-out.csv")
        assert out.empty and out.columns.tolist() == [
            "row",
            "prediction",
            "probability",
            "threshold",
            "flags",
        ]


def test_id_column_literally_id(built: Path, frame: pl.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    frame.rename({"customer_id": "ID"}).head(10).write_parquet(source)
    summary = pr.predict_file(built, source, tmp_path / "out.csv")
    assert summary.id_column == "ID"
    assert list(pd.read_csv(tmp_path / "out.csv")["ID"]) == list(range(1000, 1010))
    plain = tmp_path / "plain.parquet"
    frame.drop("customer_id").head(10).write_parquet(plain)
    summary = pr.predict_file(built, plain, tmp_path / "plain.csv")
    assert summary.id_column is None
    assert pd.read_csv(tmp_path / "plain.csv").columns[:2].tolist() == ["row", "prediction"]


def test_bad_paths(built: Path, frame: pl.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    frame.head(10).write_csv(source)
    with pytest.raises(MlwbError, match="does not exist"):
        pr.predict_file(built, source, tmp_path / "nowhere" / "out.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(MlwbError, match="is a folder"):
        pr.predict_file(built, source, tmp_path / "dir.csv")
    with pytest.raises(MlwbError, match="cannot tell the format"):
        pr.predict_file(built, source, tmp_path / "out.xlsx")
    with pytest.raises(MlwbError, match="no input file"):
        pr.predict_file(built, tmp_path / "missing.csv", tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.csv", "in.csv"]


def test_unwritable_output_any_user(built: Path, frame: pl.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    frame.head(10).write_csv(source)
    # /proc refuses new files even to root.
    with pytest.raises(MlwbError, match="cannot write the output to /proc/out.csv"):
        pr.predict_file(built, source, Path("/proc/out.csv"))
    with pytest.raises(MlwbError, match="cannot write the rejects to /proc/r.csv"):
        pr.predict_file(built, source, tmp_path / "out.csv", Path("/proc/r.csv"))
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_malformed_input(built: Path, tmp_path: Path) -> None:
    broken = tmp_path / "in.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(MlwbError, match="cannot read in.parquet"):
        pr.predict_file(built, broken, tmp_path / "out.csv")
    ndjson = tmp_path / "in.ndjson"
    ndjson.write_text('{"age": 1}\n{"age": \n')
    with pytest.raises(MlwbError, match="cannot read in.ndjson"):
        pr.predict_file(built, ndjson, tmp_path / "out.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.ndjson", "in.parquet"]


def test_missing_column_and_cancel_leave_nothing(
    built: Path, frame: pl.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    frame.drop("age").write_csv(source)
    with pytest.raises(MlwbError, match="in.csv is missing column.*age"):
        pr.predict_file(built, source, tmp_path / "out.csv")
    frame.drop("age").head(0).write_csv(source)  # even with no rows
    with pytest.raises(MlwbError, match="in.csv is missing column.*age"):
        pr.predict_file(built, source, tmp_path / "out.csv")
    frame.write_csv(source)
    calls = iter([False, False, True])
    with pytest.raises(pr.PredictCancelled):
        pr.predict_file(
            built, source, tmp_path / "out.csv", chunk_rows=CHUNK, should_stop=lambda: next(calls)
        )
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_python_api(built: Path, loaded: bd.Bundle, frame: pl.DataFrame) -> None:
    small = frame.head(15)
    expected = loaded.predict(small).predictions
    for data in (small, small.to_pandas(), small.to_dicts()):
        got = pr.predict(built, data)
        pd.testing.assert_frame_equal(got.predictions, expected)
    assert pr.predict(loaded, small.to_dicts()).rejects.empty


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    import app.cli_predict  # noqa: F401  (registers `predict` until app/cli.py imports it)
    from app.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli(
    built: Path, frame: pl.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.parquet"
    frame.write_parquet(source)
    out = tmp_path / "out.csv"
    code, text, err = run_cli(
        capsys, "predict", "--bundle", str(built), "--input", str(source), "--output", str(out)
    )
    assert code == 0, err
    assert f"rows in:       {N:,}" in text and "rows/s" in text
    assert len(pd.read_csv(out)) + len(pd.read_csv(tmp_path / "out.rejects.csv")) == N
    code, text, err = run_cli(
        capsys,
        "predict",
        "--bundle",
        str(built),
        "--input",
        str(source),
        "--output",
        str(tmp_path / "again.ndjson"),
        "--rejects",
        str(tmp_path / "r.csv"),
        "--chunk-rows",
        "700",
        "--json",
    )
    assert code == 0, err
    data = json.loads(text)
    assert data["rows_in"] == N and data["output"] == str(tmp_path / "again.ndjson")
    assert data["rejects"] == str(tmp_path / "r.csv")
    code, _, err = run_cli(
        capsys, "predict", "--input", str(source), "--output", str(tmp_path / "x.csv")
    )
    assert code != 0 and "--bundle" in err
    code, _, err = run_cli(
        capsys,
        "predict",
        "--bundle",
        str(built),
        "--input",
        str(tmp_path / "nope.csv"),
        "--output",
        str(tmp_path / "x.csv"),
    )
    assert code == 1 and "no input file" in err


def test_late_bad_value_in_a_sniffed_column(
    built: Path, frame: pl.DataFrame, tmp_path: Path
) -> None:
    """DuckDB sniffs types on the first rows; a bad value far below them is still a reject."""
    big = pl.concat([frame] * 11).with_columns(customer_id=pl.int_range(0, N * 11))
    text = big.with_columns(pl.col("age").cast(pl.String))
    late = len(text) - 5
    text = text.with_columns(
        age=pl.when(pl.int_range(0, len(text)) == late).then(pl.lit("abc")).otherwise("age")
    )
    source = tmp_path / "in.csv"
    text.write_csv(source)
    summary = pr.predict_file(built, source, tmp_path / "out.parquet", chunk_rows=5_000)
    assert summary.rows_in == len(text) and summary.rows_rejected == 1
    rejects = pd.read_csv(tmp_path / "out.rejects.csv")
    assert list(rejects["row"]) == [late + 1] and "'abc'" in rejects["reason"][0]
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == len(text) - 1


def test_cli_project_without_production(
    adult: tuple[ProjectStore, int],
    frame: pl.DataFrame,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, _ = adult
    source = tmp_path / "in.csv"
    frame.head(5).write_csv(source)
    code, _, err = run_cli(
        capsys,
        "predict",
        "--project",
        str(store.root),
        "--input",
        str(source),
        "--output",
        str(tmp_path / "out.csv"),
    )
    assert code == 1 and "no production bundle; deploy and promote first" in err
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_a_scored_file_is_added_to_the_prediction_log(
    built: Path, frame: pl.DataFrame, tmp_path: Path
) -> None:
    from app.services.prediction_log import read_log

    source = tmp_path / "in.parquet"
    frame.write_parquet(source)
    rows = frame.to_dicts()
    rows[3]["age"] = "abc"
    bad = tmp_path / "bad.ndjson"
    bad.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    log = tmp_path / "log"
    first = pr.predict_file(built, source, tmp_path / "out.parquet", chunk_rows=CHUNK, log_dir=log)
    second = pr.predict_file(built, bad, tmp_path / "out.ndjson", chunk_rows=CHUNK, log_dir=log)
    entries = read_log(log).sort("time")
    assert entries["source"].to_list() == ["batch", "batch"]
    assert entries["rows"].to_list() == [first.rows_in, second.rows_in]
    assert entries["scored"].to_list() == [first.rows_scored, second.rows_scored]
    assert entries["rejected"].to_list() == [0, second.rows_rejected] and second.rows_rejected == 1
    summary = json.loads(entries["summary"][0])
    scored = pd.read_parquet(tmp_path / "out.parquet")
    classes = scored["prediction"].value_counts().to_dict()
    assert summary["predictions"]["classes"] == {str(k): int(v) for k, v in classes.items()}


def test_a_chunk_summary_from_arrays_equals_the_one_from_frames(
    loaded: bd.Bundle, frame: pl.DataFrame
) -> None:
    from app.services.prediction_summary import BatchSummary

    rows = frame.head(700).with_columns(
        age=pl.when(pl.int_range(0, 700) % 50 == 0).then(None).otherwise(pl.col("age"))
    )
    for data in (rows, rows.to_pandas()):  # the columnar way and the general way
        batch = loaded.predict_batch(data)
        by_arrays, by_frames = BatchSummary(loaded), BatchSummary(loaded)
        by_arrays.add_batch(batch)
        result = batch.prediction()
        by_frames.add(result, result.features)
        assert by_arrays.as_dict() == by_frames.as_dict()
        assert (by_arrays.rows, by_arrays.scored, by_arrays.rejected) == (
            by_frames.rows,
            by_frames.scored,
            by_frames.rejected,
        )


def test_a_file_scores_like_the_frame_in_many_small_chunks(
    built: Path, loaded: bd.Bundle, frame: pl.DataFrame, tmp_path: Path
) -> None:
    # Many small chunks (Parquet text columns: parsed the general way): rows in order.
    source = tmp_path / "in.parquet"
    frame.write_parquet(source, row_group_size=97)
    summary = pr.predict_file(built, source, tmp_path / "out.parquet", chunk_rows=61)
    out = pd.read_parquet(tmp_path / "out.parquet")
    whole = loaded.predict(frame).predictions
    assert summary.rows_in == N and list(out["row"]) == [r + 1 for r in whole["row"]]
    np.testing.assert_array_equal(out["probability"], whole["probability"])
    assert list(out["flags"]) == list(whole["flags"])
