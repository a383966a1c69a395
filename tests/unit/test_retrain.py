"""The Retrain stage on the bikes story: a winter champion meets the summer.

The champion is trained on January–March 2011; June, July and August arrive as labelled
monitoring batches (July's labels later, joined by ``instant``), September without labels.
Monitoring must flag the drop; a challenger trained on the winter rows plus June and July must
beat the champion on August, which it never saw; promotion changes production and rollback
brings the champion back. Bad input changes nothing.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sklearn.metrics import mean_absolute_error

from app.domain.monitor import Decision, Status
from app.errors import MlwbError
from app.services import evaluation as ev
from app.services import monitor, registry, retrain
from app.services.bundle import load_bundle
from storage.db import ProjectStore
from tests.unit.train_fixtures import SAMPLE, make_project, table_count, train_and_choose

BIKES = pl.read_csv(SAMPLE / "bike_sharing_hour.csv").drop("casual", "registered")
UNLABELLED_JUNE = 12


def _months(*months: str) -> pl.DataFrame:
    return BIKES.filter(pl.col("dteday").str.slice(0, 7).is_in(list(months)))


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[ProjectStore, Path]:
    from app.services.demo import DEMO_CHARTERS

    root = tmp_path_factory.mktemp("bikes")
    charter = {**DEMO_CHARTERS["bikes"], "constraints": []}
    train = _months("2011-01", "2011-02", "2011-03")
    store = make_project(root, "bikes", train, charter, column_roles={"instant": "id"})
    run_id = train_and_choose(store, model="hgb")
    ev.evaluate(store, run_id, resamples=100, importance=False)
    version = registry.deploy(store, run_id, override_reason="retrain test")
    registry.promote(store, version.version)
    june = _months("2011-06").with_row_index("i")
    june = june.with_columns(
        pl.when(pl.col("i") < UNLABELLED_JUNE).then(None).otherwise(pl.col("cnt")).alias("cnt")
    ).drop("i")
    june.write_csv(root / "june.csv")
    _months("2011-07").drop("cnt").write_csv(root / "july.csv")
    _months("2011-07").select("instant", "cnt").write_csv(root / "july_labels.csv")
    _months("2011-08").write_csv(root / "august.csv")
    _months("2011-09").drop("cnt").write_csv(root / "september.csv")
    for name in ("june", "august"):
        monitor.add_batch(store, root / f"{name}.csv", label_column="cnt", key_column="instant")
        if name == "june":
            monitor.add_batch(store, root / "july.csv", key_column="instant")
            monitor.add_labels(store, 2, root / "july_labels.csv", key="instant")
    monitor.add_batch(store, root / "september.csv", key_column="instant")
    return store, root


def _state(store: ProjectStore) -> tuple[int, int, int, str | None]:
    path = registry.production_bundle(store)
    return (
        table_count(store, "datasets"),
        table_count(store, "runs"),
        table_count(store, "bundles"),
        str(path) if path else None,
    )


@pytest.fixture(scope="module")
def retrained(story) -> retrain.Comparison:
    store, _ = story
    return retrain.retrain(store, batches=[1, 2, 3], resamples=300, importance=False)


def test_monitoring_detects_the_drop(story) -> None:
    store, _ = story
    august = monitor.get_batch(store, 3)
    perf = august.report.performance
    assert perf is not None and perf.value is not None and perf.baseline is not None
    assert perf.metric == "mae"
    # The winter model's error on August is far above its holdout error, interval included.
    assert perf.low is not None and perf.low > perf.baseline_high
    assert august.status is Status.ALERT
    assert august.report.recommendation is Decision.RETRAIN
    july = monitor.get_batch(store, 2)
    assert july.report.performance is not None  # labels that arrived later


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batches": [1, 99]}, "there is no batch 99"),
        ({"batches": [1, 4]}, "batch 4 (september) has no labels"),
        ({"batches": [1, 2, 3], "window_days": 1}, "holds no training rows"),
        ({"batches": [3]}, "nothing new to train on"),
        ({"batches": [1, 2, 3], "margin": -1.0}, "margin cannot be negative"),
    ],
)
def test_bad_input_changes_nothing(story, kwargs: dict, message: str) -> None:
    store, _ = story
    before = _state(store)
    with pytest.raises(MlwbError) as info:
        retrain.retrain(store, resamples=50, importance=False, **kwargs)
    assert message in info.value.message
    assert _state(store) == before


def test_no_production_bundle(tmp_path: Path) -> None:
    from app.services.demo import DEMO_CHARTERS

    charter = {**DEMO_CHARTERS["bikes"], "constraints": []}
    store = make_project(tmp_path, "bikes", _months("2011-01"), charter)
    with pytest.raises(MlwbError, match="no production bundle"):
        retrain.retrain(store, batches=[1])
    assert table_count(store, "datasets") == 1
    assert table_count(store, "runs") == 0
    with pytest.raises(MlwbError, match="no retrain comparison"):
        retrain.promote(store)


def test_a_window_keeps_only_recent_rows(story) -> None:
    store, _ = story
    data = retrain.choose_data(store, batches=[1, 2, 3], window_days=45)
    # August (batch 3) is held out; the window ends at its last day, 2011-08-31.
    assert data.compare_batch == 3 and data.batches == [2]
    assert "batch 1 has no rows in the window" in data.notes
    days = data.frame["dteday"]
    assert days.min() == date(2011, 7, 18) and days.max() == date(2011, 7, 31)
    expected = BIKES.filter(
        pl.col("dteday").is_between(pl.lit("2011-07-18"), pl.lit("2011-07-31"))
    ).height
    assert data.frame.height == expected
    assert data.frame.columns == BIKES.columns


def test_the_challenger_data_and_its_lineage(story, retrained: retrain.Comparison) -> None:
    store, _ = story
    from app.services import browse

    version = browse.get_version(store, "bikes")
    expected = _months("2011-01", "2011-02", "2011-03", "2011-06", "2011-07")
    assert version.n_rows == expected.height - UNLABELLED_JUNE
    assert retrained.challenger.dataset == version.ref
    with store.connect() as con:
        instants = set(con.sql(f'SELECT instant FROM "{version.table_name}"').pl()["instant"])
    assert not instants & set(_months("2011-08")["instant"])
    assert retrained.lineage["batches"] == [1, 2]
    assert retrained.lineage["charter_version"] == 1
    assert f"batch 1: {UNLABELLED_JUNE} unlabelled row(s) skipped" in retrained.notes
    from storage import training as store_runs

    with store.connect() as con:
        run = store_runs.get_run(con, retrained.challenger.run_id)
        actions = [
            r[0]
            for r in con.execute(
                "SELECT action FROM events WHERE stage = 'retrain' ORDER BY id"
            ).fetchall()
        ]
    assert run is not None and run.candidate == "hgb" and run.version == version.version
    assert any("retrain challenger of run 1" in n for n in run.notes)
    assert actions == ["data_built", "compared"]


def test_the_challenger_beats_the_champion_on_the_held_out_month(
    story, retrained: retrain.Comparison
) -> None:
    store, _ = story
    c = retrained
    print(f"\n{c.text()}")
    assert c.compare_batch == 3 and c.n_rows == _months("2011-08").height
    assert c.metric == "mae" and not c.higher_is_better
    # Independent reference: the production bundle's predictions scored by scikit-learn.
    august = _months("2011-08").with_columns(pl.col("dteday").str.to_date())
    champion = load_bundle(registry.production_bundle(store)).predict(august).predictions
    reference = mean_absolute_error(august["cnt"].to_numpy(), champion["prediction"].to_numpy())
    assert c.champion.value == pytest.approx(reference, rel=1e-9)
    assert c.difference == pytest.approx(c.challenger.value - c.champion.value, rel=1e-9)
    assert c.difference_high is not None and c.difference_high < 0
    assert c.gate == "pass" and c.decision == "promote"
    assert retrain.last_comparison(store) == c


def test_promote_then_rollback(story, retrained: retrain.Comparison) -> None:
    store, _ = story
    before = registry.production_bundle(store)
    promoted = retrain.promote(store)
    assert promoted.run_id == retrained.challenger.run_id
    assert "production" in promoted.aliases
    assert registry.production_bundle(store) != before
    with pytest.raises(MlwbError, match="promoted already"):
        retrain.promote(store)
    back = registry.rollback(store)
    assert back.version == retrained.champion.bundle_version
    assert registry.production_bundle(store) == before


@pytest.mark.parametrize(
    ("gate", "higher", "low", "high", "margin", "decision"),
    [
        ("pass", False, -9.0, -1.0, 0.0, "promote"),  # lower error, whole interval below 0
        ("pass", False, -9.0, 1.0, 0.0, "keep"),  # straddles 0
        ("pass", False, -9.0, 1.0, 2.0, "promote"),  # not worse by more than the margin
        ("fail", False, -9.0, -1.0, 0.0, "keep"),  # better but fails the gate
        ("too_close", True, 0.1, 0.2, 0.0, "keep"),
        ("pass", True, 0.01, 0.2, 0.0, "promote"),  # higher is better
        ("pass", True, -0.01, 0.2, 0.0, "keep"),
        ("pass", True, None, None, 0.0, "keep"),
    ],
)
def test_decision_rule(
    gate: str, higher: bool, low: float | None, high: float | None, margin: float, decision: str
) -> None:
    assert retrain.decide(gate, higher, low, high, margin)[0] == decision


def test_stopping_while_training_records_no_comparison(story) -> None:
    store, _ = story
    done = "SELECT count(*) FROM runs WHERE status = 'done'"
    with store.connect() as con:
        before = con.execute("SELECT count(*) FROM events WHERE action = 'compared'").fetchone()
        done_before = con.execute(done).fetchone()
    training = []

    def progress(fraction: float, text: str) -> None:
        training.append(text.startswith("training the challenger"))

    with pytest.raises(retrain.RetrainCancelled, match="while training"):
        retrain.retrain(
            store,
            batches=[1, 2, 3],
            resamples=50,
            importance=False,
            on_progress=progress,
            should_stop=lambda: any(training),
        )
    with store.connect() as con:
        after = con.execute("SELECT count(*) FROM events WHERE action = 'compared'").fetchone()
        done_after = con.execute(done).fetchone()
    assert after == before
    assert done_after == done_before, "no challenger run finished"


def test_shadow_scores_the_challenger_beside_production_then_promotes_it(
    story, monkeypatch
) -> None:
    """Kept on one batch, a challenger earns more evidence in the shadow of production."""
    import numpy as np

    from app.services import models, shadow
    from storage import datasets as ds

    store, root = story

    def working(store: ProjectStore) -> tuple[int | None, int | None]:
        chosen = models.chosen_run(store)
        with store.connect() as con:
            current = ds.current_version(con, "bikes")
        return (chosen.id if chosen else None, current.version if current else None)

    before = working(store)
    monkeypatch.setattr(retrain, "decide", lambda *args: ("keep", "kept for the test"))
    comparison = retrain.retrain(store, batches=[1, 2, 3], resamples=100, importance=False)
    assert comparison.decision == "keep"
    assert working(store) == before, "a kept champion keeps the data and run the stages use"
    production = registry.production_bundle(store)
    version = shadow.start(store)
    assert shadow.current(store) == version.version
    assert version.run_id == comparison.challenger.run_id
    with pytest.raises(MlwbError, match="already being shadowed"):
        shadow.start(store)

    september = _months("2011-09")
    september.write_csv(root / "september_labelled.csv")
    batch = monitor.add_batch(
        store, root / "september_labelled.csv", label_column="cnt", key_column="instant"
    )
    result = batch.report.shadow
    assert result is not None and result.version == version.version and not result.sampled
    # independently: both bundles score the same rows; MAE with scikit-learn
    features = september.drop("cnt")
    a = load_bundle(production).predict(features).predictions
    b = load_bundle(registry.resolve(store, version.path)).predict(features).predictions
    rows = np.intersect1d(a["row"], b["row"])
    y = september["cnt"].to_numpy()[rows]
    mae_a = mean_absolute_error(y, a.set_index("row").loc[rows, "prediction"].astype(float))
    mae_b = mean_absolute_error(y, b.set_index("row").loc[rows, "prediction"].astype(float))
    assert result.n_rows == len(rows)
    assert result.production == pytest.approx(mae_a, rel=1e-9)
    assert result.challenger == pytest.approx(mae_b, rel=1e-9)
    assert result.difference == pytest.approx(mae_b - mae_a, rel=1e-9)
    assert result.difference_low <= result.difference <= result.difference_high
    assert result.better is (result.difference_high < 0)
    assert registry.production_bundle(store) == production, "the shadow only scores"
    assert [r[0] for r in shadow.results(store)] == [batch.id]
    assert "challenger" in shadow.summary(store)

    before = table_count(store, "bundles")
    with pytest.raises(MlwbError, match="keep the champion"):
        retrain.promote(store)
    promoted = retrain.promote(store, "the shadow batches favour it")
    assert promoted.version == version.version, "the shadowed bundle itself is promoted"
    assert table_count(store, "bundles") == before
    assert shadow.current(store) is None
    with pytest.raises(MlwbError, match="no challenger is being shadowed"):
        shadow.stop(store)
    registry.rollback(store)
    assert registry.production_bundle(store) == production


def test_a_recipe_that_drops_every_new_row_is_refused() -> None:
    """A filter written for the original data (``yr == 0``: 2011 only) would drop every 2012
    batch row and train a copy of the champion: refused, naming the step."""
    from app.services.retrain_data import _recipe_keeps

    recipe = [
        {"kind": "drop_columns", "columns": ["holiday"]},
        {"kind": "filter_rows", "expression": "yr == 0"},
    ]
    later = BIKES.filter(pl.col("yr") == 1).head(500)
    with pytest.raises(MlwbError, match=r"step 2 \(Keep rows where yr == 0\) removes all 500"):
        _recipe_keeps(later, recipe)
    mixed = pl.concat([BIKES.filter(pl.col("yr") == 0).head(300), later])
    assert _recipe_keeps(mixed, recipe) == ["the recipe keeps 300 of the 800 new rows"]
    assert _recipe_keeps(mixed, []) == []
