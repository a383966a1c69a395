"""The prediction log: buffering and flush policy, the Parquet part files read back, batch
summaries against NumPy on the same predictions, where the log lives, and failed writes.

The bundle is made by hand (a fitted logistic regression over two numeric columns and one
categorical column, with its contract), so these tests need no project or training run.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from app.runtime.contract import (
    Baseline,
    BundleMetadata,
    ColumnContract,
    InputContract,
    Manifest,
)
from app.runtime.predictor import MODEL, Bundle
from app.services.prediction_log import PredictionLog, log_directory, read_log, read_rows
from app.services.prediction_summary import HISTOGRAM_BINS, BatchSummary
from storage.db import ProjectStore


def make_bundle(path: Path) -> Bundle:
    rng = np.random.default_rng(7)
    n = 400
    X = pd.DataFrame(
        {
            "x1": rng.normal(0, 1, n),
            "x2": rng.normal(5, 2, n),
            "c": rng.choice(["a", "b", "c"], n),
        }
    )
    y = np.where(X["x1"] + (X["c"] == "a") + rng.normal(0, 0.5, n) > 0.5, "yes", "no")
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", "passthrough", ["x1", "x2"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"]),
                    ]
                ),
            ),
            ("model", LogisticRegression()),
        ]
    ).fit(X, y)
    contract = InputContract(
        columns=[
            ColumnContract(name="x1", kind="numeric", nullable=False, min=-4, max=4),
            ColumnContract(name="x2", kind="numeric", nullable=False, min=-5, max=15),
            ColumnContract(
                name="c", kind="categorical", nullable=False, categories=["a", "b", "c"]
            ),
        ],
        target="y",
        task="binary",
    )
    metadata = BundleMetadata(
        mlwb_version="0",
        created_at=datetime(2024, 6, 1, 12, tzinfo=UTC),
        project="p",
        run_id=3,
        candidate="logreg",
        dataset="d@1",
        fingerprint="f",
        task="binary",
        target="y",
        positive_class="yes",
        threshold=0.5,
        gate="pass",
    )
    return Bundle(
        path=path,
        metadata=metadata,
        contract=contract,
        baseline=Baseline(n_rows=n, features=[]),
        manifest=Manifest(files={MODEL: "ab" * 32}),
        model=model,
    )


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return make_bundle(tmp_path_factory.mktemp("bundles") / "p-run3-v1")


def rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {"x1": float(rng.normal()), "x2": float(rng.normal(5, 2)), "c": str(rng.choice(["a", "b"]))}
        for _ in range(n)
    ]


def served(bundle: Bundle, log: PredictionLog, records: list[dict[str, Any]]) -> None:
    """What the server logs for one request: the records and per-row results in order."""
    results = [{"row": i, **bundle.predict_row(r)} for i, r in enumerate(records)]
    log.record("serve", records, results, None, 1.5)


def test_flushes_every_n_rows_and_on_close(bundle: Bundle, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, bundle, flush_rows=5, flush_seconds=0)
    for k in range(4):
        served(bundle, log, rows(1, k))
    assert not list(tmp_path.glob("*.parquet"))  # buffered: nothing written per request
    served(bundle, log, rows(1, 4))  # the 5th row reaches flush_rows
    assert len(list(tmp_path.glob("entries-*.parquet"))) == 1
    assert read_log(tmp_path).height == 5
    served(bundle, log, rows(3, 5))
    log.close()
    log.close()  # idempotent
    assert len(list(tmp_path.glob("entries-*.parquet"))) == 2
    assert len(list(tmp_path.glob("rows-*.parquet"))) == 2
    assert not list(tmp_path.glob(".tmp-*"))
    entries = read_log(tmp_path)
    assert entries["rows"].to_list() == [1, 1, 1, 1, 1, 3]
    assert entries["entry"].n_unique() == 6
    assert entries["time"].is_sorted()
    logged = read_rows(tmp_path)
    sent = [r for k in range(5) for r in rows(1, k)] + rows(3, 5)
    assert logged["x1"].to_list() == [r["x1"] for r in sent]
    assert logged["c"].to_list() == [r["c"] for r in sent]
    assert logged["probability"].to_list() == [bundle.predict_row(r)["probability"] for r in sent]
    with pytest.raises(RuntimeError, match="closed"):
        served(bundle, log, rows(1))


def test_background_thread_flushes_on_time(bundle: Bundle, tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, bundle, flush_rows=1_000_000, flush_seconds=0.05)
    try:
        served(bundle, log, rows(2))
        deadline = time.monotonic() + 30
        while read_log(tmp_path).height == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert read_log(tmp_path)["rows"].to_list() == [2]  # written without flush() or close()
    finally:
        log.close()
    assert read_log(tmp_path).height == 1


def test_batch_summary_over_chunks_matches_numpy(bundle: Bundle, tmp_path: Path) -> None:
    data = pd.DataFrame(rows(300, 11))
    data.loc[5, "x2"] = None  # missing where training had none: rejected
    data.loc[9, "c"] = "zzz"  # unseen: scored and flagged
    summary = BatchSummary(bundle)
    for chunk in (data.iloc[:120], data.iloc[120:]):
        summary.add(bundle.predict(chunk.reset_index(drop=True)), chunk)
    with PredictionLog(tmp_path, bundle, flush_seconds=0) as log:
        log.record_batch(rows=300, scored=summary.scored, rejected=summary.rejected,
                         latency_ms=12.5, summary=summary)  # fmt: skip
    whole = bundle.predict(data)
    p = whole.predictions["probability"].to_numpy()
    entry = read_log(tmp_path).row(0, named=True)
    assert (entry["source"], entry["rows"], entry["scored"], entry["rejected"]) == (
        "batch", 300, 299, 1,
    )  # fmt: skip
    assert entry["run_id"] == 3 and entry["model_sha256"] == "ab" * 32
    assert entry["bundle"] == str(bundle.path) and entry["latency_ms"] == 12.5
    got = pl.Series([entry["summary"]]).str.json_decode().to_list()[0]
    labels = whole.predictions["prediction"]
    assert got["predictions"]["classes"] == labels.value_counts().sort_index().to_dict()
    assert got["predictions"]["probability"]["mean"] == pytest.approx(p.mean())
    assert got["predictions"]["probability"]["min"] == pytest.approx(p.min())
    histogram, _ = np.histogram(p, bins=HISTOGRAM_BINS, range=(0, 1))
    assert got["predictions"]["probability"]["histogram"] == histogram.tolist()
    assert got["inputs"]["x2"]["missing"] == 1
    assert got["inputs"]["x2"]["mean"] == pytest.approx(data["x2"].mean())
    assert got["inputs"]["x1"]["max"] == pytest.approx(data["x1"].max())
    assert got["inputs"]["c"] == {"missing": 0}
    assert read_rows(tmp_path).height == 0  # a batch logs counts and summaries, not rows


def test_record_from_prediction_frames(bundle: Bundle, tmp_path: Path) -> None:
    data = pd.DataFrame(rows(6, 3))
    data["x1"] = data["x1"].astype(object)
    data.loc[2, "x1"] = "abc"
    result = bundle.predict(data)
    with PredictionLog(tmp_path, bundle, flush_seconds=0) as log:
        log.record("serve", data, result.predictions, result.rejects, 4.0)
        log.record("batch", data, result.predictions, result.rejects, 4.0)
    entries = read_log(tmp_path)
    assert entries["source"].to_list() == ["serve", "batch"]
    assert entries["scored"].to_list() == [5, 5]
    assert entries["rejected"].to_list() == [1, 1]
    logged = read_rows(tmp_path)  # served rows only
    assert logged["row"].to_list() == list(range(6))
    assert logged["errors"][2].startswith("x1: 'abc' is not a number")
    assert logged["x1"][2] is None
    want = result.predictions.set_index("row")["probability"]
    assert [logged["probability"][i] for i in want.index] == want.tolist()


def test_log_lives_in_the_project_or_next_to_the_bundle(bundle: Bundle, tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "proj", "proj")
    directory = log_directory(store, bundle.path)
    assert directory == store.root / "logs" / "predictions"
    database = store.root / "project.duckdb"
    before = database.read_bytes()
    with PredictionLog(directory, bundle, flush_seconds=0) as log:
        served(bundle, log, rows(2))
    assert read_log(directory)["rows"].to_list() == [2]
    assert database.read_bytes() == before  # never written through the project database
    assert log_directory(None, tmp_path / "b" / "x-run1-v2") == tmp_path / "b" / "x-run1-v2.log"
    assert log_directory(None, tmp_path / "x-run1-v2.zip") == tmp_path / "x-run1-v2.log"


def test_failed_write_keeps_the_entries(bundle: Bundle, tmp_path: Path) -> None:
    blocker = tmp_path / "log"
    blocker.write_text("a file where the log folder should be")
    log = PredictionLog(blocker, bundle, flush_seconds=0)
    served(bundle, log, rows(2))
    with pytest.raises(OSError):
        log.flush()
    assert log.flush_errors == 1
    blocker.unlink()
    assert log.flush() == 1
    log.close()
    assert read_log(blocker)["rows"].to_list() == [2]


def test_empty_log_reads_as_empty_frames(tmp_path: Path) -> None:
    assert read_log(tmp_path / "none").height == 0
    assert "latency_ms" in read_log(tmp_path / "none").columns
    assert read_rows(tmp_path / "none").height == 0


def test_served_requests_are_summarised_as_a_frame_would_summarise_them(
    bundle: Bundle, tmp_path: Path
) -> None:
    """Each served request of a flush gets the summary the pandas path (``BatchSummary``
    over a frame of its rows) gives it, odd values included, though the flush computes all
    of them at once in a group-by."""
    from app.services.prediction_summary import logged_value

    odd: list[dict[str, Any]] = [
        {"x1": 0.5, "x2": "7.5", "c": "a"},
        {"x1": None, "x2": float("nan"), "c": None},
        {"x1": "abc", "x2": 3, "c": 4},
        {"x1": True, "x2": float("inf"), "c": "b"},
        {"x1": None, "x2": -1.0, "c": float("nan")},
    ]
    requests = [odd, rows(1, 1), rows(7, 2), [{"x1": None, "x2": None, "c": None}], rows(30, 3)]
    log = PredictionLog(tmp_path, bundle, flush_seconds=0)
    results = []
    for records in requests:
        got = [{"row": i, **bundle.predict_row(r)} for i, r in enumerate(records)]
        results.append(got)
        log.record("serve", records, got, None, 1.0)
    log.close()
    summaries = [json.loads(s) for s in read_log(tmp_path)["summary"].to_list()]
    assert len(summaries) == len(requests)
    for records, got, summary in zip(requests, results, summaries, strict=True):
        frame = pd.DataFrame(
            {
                c.name: [logged_value(r.get(c.name), c.kind) for r in records]
                for c in bundle.contract.columns
            }
        )
        reference = BatchSummary(bundle)
        reference._add_inputs(frame)
        scored = [r for r in got if "errors" not in r]
        if scored:
            reference._add_predictions(
                pd.Series([r["prediction"] for r in scored]),
                pd.Series([r.get("probability") for r in scored]),
            )
        want = reference.as_dict()
        assert list(summary["inputs"]) == list(want["inputs"])
        for name, numbers in want["inputs"].items():
            assert summary["inputs"][name] == pytest.approx(numbers), name
        assert summary["predictions"]["classes"] == want["predictions"]["classes"]
        if "probability" in want["predictions"]:
            assert summary["predictions"]["probability"] == pytest.approx(
                want["predictions"]["probability"]
            )
        else:
            assert "probability" not in summary["predictions"]
    assert summaries[0]["inputs"]["x1"] == {
        "missing": 4,
        "n": 1,
        "mean": 0.5,
        "min": 0.5,
        "max": 0.5,
    }
    assert summaries[3]["predictions"] == {"classes": {}}  # its one row was rejected
    histogram = np.histogram([r["probability"] for r in results[4]], bins=10, range=(0, 1))[0]
    assert summaries[4]["predictions"]["probability"]["histogram"] == histogram.tolist()
