"""The bikes demo's monitoring story: train on January–March 2011, then watch 2011 go by.

Summer months must show the temperature drift (temp and atemp flagged), while batches drawn
from the training rows themselves must come out OK at 100 and 10,000 rows (the 1,000,000-row
case is measured by ``bench/monitor.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from app.domain.metrics import TaskType
from app.domain.monitor import Status
from app.services import browse, monitor, registry
from app.services import evaluation as ev
from app.services import training as tr
from app.services.bundle import load_bundle
from app.services.features import FeatureSet
from storage.db import ProjectStore
from tests.unit.train_fixtures import SAMPLE, make_project, train_and_choose

BIKES = pl.read_csv(SAMPLE / "bike_sharing_hour.csv").drop("casual", "registered")


def _months(*months: str) -> pl.DataFrame:
    return BIKES.filter(pl.col("dteday").str.slice(0, 7).is_in(list(months)))


@pytest.fixture(scope="module")
def bikes(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, Path]:
    from app.services.demo import DEMO_CHARTERS

    root = tmp_path_factory.mktemp("bikes")
    charter = {**DEMO_CHARTERS["bikes"], "constraints": []}
    train = _months("2011-01", "2011-02", "2011-03")
    store = make_project(root, "bikes", train, charter, column_roles={"instant": "id"})
    run_id = train_and_choose(store, model="hgb")
    ev.evaluate(store, run_id, resamples=100, importance=False)
    version = registry.deploy(store, run_id, override_reason="monitoring test")
    registry.promote(store, version.version)
    return store, root


def test_summer_shows_the_temperature_drift(bikes) -> None:
    store, root = bikes
    path = root / "july.csv"
    _months("2011-07").drop("cnt").write_csv(path)
    batch = monitor.add_batch(store, path)
    drifted = set(batch.report.drift.drifted_features)
    assert {"temp", "atemp"} <= drifted, drifted
    assert batch.status is not Status.OK
    order = [f.name for f in batch.report.drift.features]
    assert order.index("temp") < order.index("windspeed")


@pytest.mark.parametrize("rows", [100, 10_000])
def test_batches_drawn_from_the_training_rows_are_ok(bikes, rows: int) -> None:
    store, root = bikes
    version = browse.get_version(store, "bikes")
    contract = load_bundle(registry.production_bundle(store)).contract
    features = FeatureSet(
        target="cnt",
        numeric=[c.name for c in contract.columns if c.kind == "numeric"],
        categorical=[c.name for c in contract.columns if c.kind == "categorical"],
        dates=[c.name for c in contract.columns if c.kind == "datetime"],
    )
    X, y = tr.load_part(store, version, features, TaskType.REGRESSION, holdout=False)
    picks = np.random.default_rng(rows).integers(0, len(X), rows)
    sample = pl.from_pandas(X.iloc[picks].reset_index(drop=True))
    path = root / f"same_{rows}.csv"
    sample.write_csv(path)
    batch = monitor.add_batch(store, path)
    assert batch.report.drift.n_drifted == 0, batch.report.drift.drifted_features
    assert batch.status is Status.OK, [r.text for r in batch.report.reasons]
