"""Monitoring a batch with the production bundle: drift, violations, performance, decisions.

The project: 1,500 adult rows, a logistic regression that passed the gate, deployed and
promoted. Batches are later adult rows (the same population: no drift expected) and the same
rows with ``age`` shifted by 25 years (drift expected), scored through the bundle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score

from app.domain.monitor import Decision, Status
from app.errors import MlwbError
from app.services import monitor, registry
from app.services.bundle import load_bundle
from storage.db import ProjectStore
from tests.unit.train_fixtures import adult_frame, passed_project, table_count


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, Path]:
    root = tmp_path_factory.mktemp("monitor")
    store, run_id = passed_project(root)
    version = registry.deploy(store, run_id)
    registry.promote(store, version.version)
    return store, root


def _batch(root: Path, name: str, frame: pl.DataFrame) -> Path:
    path = root / f"{name}.csv"
    frame.write_csv(path)
    return path


def _later(n: int = 2000) -> pl.DataFrame:
    return adult_frame(1500 + n).tail(n).with_row_index("id")


def test_no_production_bundle_is_a_clear_error_and_stores_nothing(tmp_path: Path) -> None:
    store, _ = passed_project(tmp_path)
    path = _batch(tmp_path, "b", _later(50))
    with pytest.raises(MlwbError, match="no production bundle") as info:
        monitor.add_batch(store, path)
    assert "Deploy" in info.value.hint
    assert table_count(store, "monitor_batches") == 0
    with store.connect() as con:
        (action,) = con.execute(
            "SELECT action FROM events WHERE stage = 'monitor' ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert action == "add_failed"


def test_a_batch_from_the_training_population_is_ok(live) -> None:
    store, root = live
    frame = _later()
    batch = monitor.add_batch(store, _batch(root, "same", frame), label_column="income")
    assert batch.status is Status.OK, [r.text for r in batch.report.reasons]
    assert batch.report.drift.n_drifted == 0
    assert batch.n_rows == 2000 and batch.n_scored + batch.n_rejected == 2000
    assert batch.key_column == "id"
    with store.connect() as con:
        stored = con.execute(
            "SELECT count(*) FROM monitor_predictions WHERE batch = ?", [batch.id]
        ).fetchone()[0]
    assert stored == batch.n_scored
    # The batch's histogram of age is the batch's own ages counted in the baseline's bins.
    bundle = load_bundle(registry.production_bundle(store))
    base = next(f for f in bundle.baseline.features if f.name == "age")
    age = next(f for f in batch.report.drift.features if f.name == "age")
    edges = np.asarray(base.edges)
    values = frame["age"].to_numpy().astype(float)
    index = np.searchsorted(edges, values, side="right")
    index[values == edges[-1]] = len(edges) - 1
    assert age.histogram.counts == np.bincount(index, minlength=len(edges) + 1).tolist()


def test_performance_with_labels_in_the_batch_equals_scikit_learn(live) -> None:
    store, root = live
    frame = _later(800)
    batch = monitor.add_batch(store, _batch(root, "labelled", frame), label_column="income")
    bundle = load_bundle(registry.production_bundle(store))
    scored = bundle.predict(frame.drop("income"))
    truth = frame["income"].to_numpy()[scored.predictions["row"].to_numpy()]
    expected = f1_score(truth, scored.predictions["prediction"], pos_label=">50K")
    perf = batch.report.performance
    assert perf is not None and perf.metric == "f1"
    assert perf.value == pytest.approx(expected, abs=1e-12)
    assert perf.low is not None and perf.low <= perf.value <= perf.high
    assert perf.n_labelled == len(truth)


def test_a_shifted_feature_is_flagged_with_a_recommendation(live) -> None:
    store, root = live
    frame = _later().with_columns(pl.col("age") + 25)
    batch = monitor.add_batch(store, _batch(root, "older", frame.drop("income")))
    assert batch.status in (Status.WARN, Status.ALERT)
    assert batch.report.top_features[0] == "age"
    assert [f.name for f in batch.report.drift.features][0] == "age"
    assert batch.report.recommendation is Decision.INSPECT
    age = batch.report.violations.columns[0]
    assert age.column == "age" and age.out_of_range > 0


def test_late_labels_join_by_key_and_normalise_spellings(live) -> None:
    store, root = live
    frame = _later(600)
    batch = monitor.add_batch(store, _batch(root, "nolabels", frame.drop("income")))
    assert batch.report.performance is None
    labels = frame.select(
        "id", (pl.col("income") + ".").alias("income")
    )  # '>50K.' as in adult.test
    labels = pl.concat(
        [labels, pl.DataFrame({"id": [99999], "income": ["<=50K."]}, schema=labels.schema)]
    )
    updated = monitor.add_labels(store, batch.id, _batch(root, "labels", labels), key="id")
    perf = updated.report.performance
    assert perf is not None and perf.n_labelled == batch.n_scored
    assert perf.unmatched_keys == 1
    bundle = load_bundle(registry.production_bundle(store))
    scored = bundle.predict(frame.drop("income")).predictions
    truth = frame["income"].to_numpy()[scored["row"].to_numpy()]
    assert perf.value == pytest.approx(f1_score(truth, scored["prediction"], pos_label=">50K"))
    assert any("trailing '.'" in r.text for r in updated.report.reasons)


def test_labels_whose_keys_match_nothing_are_refused(live) -> None:
    store, root = live
    batch = monitor.add_batch(store, _batch(root, "keyed", _later(100).drop("income")))
    wrong = pl.DataFrame({"id": [10_000_001, 10_000_002], "income": [">50K", "<=50K"]})
    with pytest.raises(MlwbError, match="none of the 2 keys"):
        monitor.add_labels(store, batch.id, _batch(root, "wrong", wrong), key="id")
    assert monitor.get_batch(store, batch.id).report.performance is None


def test_a_missing_needed_column_fails_and_stores_nothing(live) -> None:
    store, root = live
    before = monitor.list_batches(store)
    path = _batch(root, "noage", _later(100).drop("age"))
    with pytest.raises(MlwbError, match="missing column"):
        monitor.add_batch(store, path)
    assert [b.id for b in monitor.list_batches(store)] == [b.id for b in before]


def test_column_order_and_extra_columns_do_not_change_the_result(live) -> None:
    store, root = live
    frame = _later(300).drop("income")
    first = monitor.add_batch(store, _batch(root, "ordered", frame))
    shuffled = frame.select(list(reversed(frame.columns))).with_columns(pl.lit(1).alias("extra"))
    second = monitor.add_batch(store, _batch(root, "shuffled", shuffled))
    assert second.report.violations.extra_columns == ["extra"]
    a = {f.name: f.statistics["psi"].value for f in first.report.drift.features}
    b = {f.name: f.statistics["psi"].value for f in second.report.drift.features}
    assert a == b


def test_empty_batch_and_bad_file_are_refused(live) -> None:
    store, root = live
    empty = root / "empty.csv"
    empty.write_text(",".join(_later(1).columns) + "\n")
    with pytest.raises(MlwbError, match="no rows"):
        monitor.add_batch(store, empty)
    with pytest.raises(MlwbError, match="no batch file"):
        monitor.add_batch(store, root / "missing.csv")


def test_a_decision_is_recorded_with_an_event(live) -> None:
    store, root = live
    batch = monitor.add_batch(store, _batch(root, "decide", _later(100).drop("income")))
    decided = monitor.decide(store, batch.id, "accept", "seasonal")
    assert decided.decision is Decision.ACCEPT and decided.decision_note == "seasonal"
    with pytest.raises(MlwbError, match="unknown decision"):
        monitor.decide(store, batch.id, "ignore")
    with store.connect() as con:
        (summary,) = con.execute(
            "SELECT summary FROM events WHERE stage = 'monitor' AND action = 'decide' "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert "accept" in summary and "seasonal" in summary


def _serve_log(store: ProjectStore, records: list[dict]) -> None:
    from app.services.prediction_log import PredictionLog, log_directory

    bundle = load_bundle(registry.production_bundle(store))
    with PredictionLog(log_directory(store, bundle.path), bundle, flush_seconds=0) as log:
        for record in records:
            log.record("serve", [record], [bundle.predict_row(record)], None, 1.0)


def test_rows_served_and_logged_are_monitored_once(live) -> None:
    store, _ = live
    _serve_log(store, _later(150).drop("income").to_dicts())
    batch = monitor.add_log_batch(store)
    assert batch.source == monitor.LOG_SOURCE and batch.n_rows == 150
    assert batch.report.drift.n_drifted == 0
    with pytest.raises(MlwbError, match="no rows served"):
        monitor.add_log_batch(store)
    shifted = _later(400).drop("income").with_columns(pl.col("age") + 25).to_dicts()
    _serve_log(store, shifted)
    later = monitor.add_log_batch(store)
    assert later.n_rows == 400 and "age" in later.report.top_features


def _staged(store: ProjectStore) -> list[Path]:
    return sorted(store.artifacts.glob("*monitor*.parquet"))


def test_a_batch_read_in_many_chunks_equals_one_chunk(live, monkeypatch) -> None:
    """A batch is counted chunk by chunk (bounded memory, so a batch larger than memory fits):
    the result equals reading it whole, and the staged rows leave no file behind."""
    store, root = live
    frame = _later(1_200).with_columns(
        pl.when(pl.col("id") % 9 == 0).then(pl.col("age") + 70).otherwise(pl.col("age"))
    )
    path = _batch(root, "chunked", frame)
    whole = monitor.add_batch(store, path, label_column="income")
    monkeypatch.setattr(monitor, "CHUNK_ROWS", 97)
    chunked = monitor.add_batch(store, path, label_column="income")
    assert _staged(store) == []
    assert (chunked.n_rows, chunked.n_scored, chunked.status) == (
        whole.n_rows,
        whole.n_scored,
        whole.status,
    )
    for a, b in zip(whole.report.drift.features, chunked.report.drift.features, strict=True):
        assert a.name == b.name
        assert a.histogram.counts == b.histogram.counts
        assert a.severity == pytest.approx(b.severity, rel=1e-9)
    assert whole.report.violations == chunked.report.violations
    assert chunked.report.violations.columns[0].out_of_range > 0
    pa, pb = whole.report.prediction_drift, chunked.report.prediction_drift
    assert pa.histogram.counts == pb.histogram.counts
    assert whole.report.performance.value == chunked.report.performance.value
    with store.connect() as con:
        rows = [
            con.execute(
                "SELECT row, key, prediction, score, label FROM monitor_predictions "
                "WHERE batch = ? ORDER BY row",
                [b.id],
            ).fetchall()
            for b in (whole, chunked)
        ]
    assert rows[0] == rows[1] and len(rows[0]) == whole.n_scored


def test_a_cancelled_or_failed_batch_leaves_no_staged_rows(live, monkeypatch) -> None:
    store, root = live
    before = [b.id for b in monitor.list_batches(store)]
    path = _batch(root, "cancelled", _later(600))
    monkeypatch.setattr(monitor, "CHUNK_ROWS", 100)
    calls = iter(range(100))
    with pytest.raises(monitor.MonitorCancelled):
        monitor.add_batch(store, path, should_stop=lambda: next(calls) >= 2)
    assert _staged(store) == []

    def broken(*args, **kwargs):
        raise MlwbError("the store refused the batch")

    monkeypatch.setattr(monitor, "_store", broken)
    with pytest.raises(MlwbError, match="refused"):
        monitor.add_batch(store, path)
    assert _staged(store) == []
    assert [b.id for b in monitor.list_batches(store)] == before
