"""Pilot tests of the Evaluate screen: the stored gate on open, evaluating from the screen,
the live threshold against scikit-learn, the segments table, cancel, and a regression model.

The projects are small (2,000 adult rows, every 10th bike hour), trained with 3 folds and a
light boosting model, evaluated with the minimum 100 resamples; the BLAS/OpenMP pools are
limited to one thread (speed only, no timing is asserted).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pilotkit import settle
from sklearn.metrics import f1_score
from textual.widgets import DataTable, Input, Select
from threadpoolctl import threadpool_limits

from app.domain.metrics import TaskType
from app.domain.training import TrainSettings
from app.services import browse, models
from app.services import evaluation as ev
from app.services import training as tr
from app.services.features import FeatureSet
from app.tui import MlwbApp
from screens.evaluate import EvaluateScreen
from screens.evaluate_banner import GateBanner
from screens.evaluate_metrics import MetricsPane
from storage import training as store_runs
from storage.db import ProjectStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from train_fixtures import (  # noqa: E402
    POSITIVE,
    adult_frame,
    bikes_frame,
    charter,
    make_project,
    regression_charter,
)

SIZE = (120, 40)
RESAMPLES = 100


def _train_choose_evaluate(store: ProjectStore, settings: TrainSettings, pick: str) -> None:
    """Train, choose the ``pick`` run and evaluate it once (one thread, few resamples)."""
    with threadpool_limits(limits=1):
        tr.train(store, settings)
        board = tr.leaderboard(store)
        run = next(r.run for r in board.rows if r.run.candidate == pick)
        models.choose(store, run.id)
        ev.evaluate(store, resamples=RESAMPLES, segments=["sex", "race"] if pick == "hgb" else None)


@pytest.fixture(scope="module")
def adult_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 adult rows, boosting and logistic regression trained, boosting chosen and
    evaluated once."""
    folder = tmp_path_factory.mktemp("evaluate")
    store = make_project(folder, "adult", adult_frame(2000), charter("adult"))
    settings = TrainSettings(models=["hgb", "logreg"], cv=3, params={"hgb": {"max_iter": 30}})
    _train_choose_evaluate(store, settings, "hgb")
    return store.root


@pytest.fixture
def adult(adult_root: Path, tmp_path: Path) -> ProjectStore:
    """A fresh copy of the prepared project for one test."""
    shutil.copytree(adult_root, tmp_path / "p")
    return ProjectStore.open(tmp_path / "p")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluate with one BLAS/OpenMP thread inside the worker thread (speed only)."""
    real = ev.evaluate

    def single_threaded(*args: Any, **kwargs: Any) -> ev.Evaluation:
        with threadpool_limits(limits=1):
            return real(*args, **kwargs)

    monkeypatch.setattr(ev, "evaluate", single_threaded)


async def open_evaluate(app: MlwbApp, pilot: Any) -> EvaluateScreen:
    await settle(app, pilot)
    await pilot.press("5")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, EvaluateScreen)
    screen.resamples = RESAMPLES
    return screen


def cell(table: DataTable[Any], row: str, column: str) -> str:
    return str(table.get_cell(row, column))


def count_evaluations(store: ProjectStore) -> int:
    with store.connect() as con:
        row = con.execute("SELECT count(*) FROM evaluations").fetchone()
    assert row is not None
    return int(row[0])


def holdout_f1(store: ProjectStore, run_id: int, threshold: float) -> float:
    """F1 at ``threshold`` straight from the saved pipeline and scikit-learn."""
    with store.connect() as con:
        record = store_runs.get_model(con, run_id)
    assert record is not None
    model = models.load_model(store.root / record["path"])
    version = browse.get_version(store, "adult", 1)
    features = FeatureSet(
        target="income", numeric=record["numeric"], categorical=record["categorical"]
    )
    X, y = tr.load_part(store, version, features, TaskType.BINARY, holdout=True)
    column = list(model.classes_).index(POSITIVE)
    proba = model.predict_proba(X)[:, column]
    return float(f1_score(y == POSITIVE, proba >= threshold))


async def test_opening_shows_the_stored_gate_metrics_and_segments(adult: ProjectStore) -> None:
    stored = ev.latest(adult)
    assert stored is not None
    app = MlwbApp(adult)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_evaluate(app, pilot)
        assert screen.evaluation is not None and screen.evaluation.id == stored.id
        assert screen.query_one(GateBanner).outcome_text == stored.gate.outcome.label
        assert screen.query_one(GateBanner).has_class(f"-{stored.gate.outcome.value}")
        table = screen.query_one("#metric-table", DataTable)
        f1 = stored.metric("f1")
        assert f1 is not None and f1.model.value is not None
        assert cell(table, "f1", "model") == f"{f1.model.value:.4f}"
        assert cell(table, "f1", "ci") == f"{f1.model.low:.4f}–{f1.model.high:.4f}"
        detail = str(screen.query_one("#gate-detail").render())
        assert stored.gate.checks[0].name in detail
        picker = screen.query_one("#run-picker", Select)
        assert picker.value == stored.run_id
        runs = {value for _, value in picker._options if value is not Select.NULL}
        assert len(runs) == 2  # boosting and logistic regression
        await pilot.press("f")
        segments = screen.query_one("#segment-table", DataTable)
        assert stored.segments and segments.row_count == len(stored.segments)
        for i, segment in enumerate(stored.segments):  # worst first, as stored
            row = [str(c) for c in segments.get_row_at(i)]
            assert row[:3] == [segment.column, segment.value, f"{segment.n:,}"]
            shown = "—" if segment.metric.value is None else f"{segment.metric.value:.4f}"
            assert row[3] == shown
            assert row[4] == (
                f"{segment.metric.low:.4f}–{segment.metric.high:.4f}"
                if segment.metric.low is not None
                else segment.metric.note
            )
        typed = screen.query_one("#segment-input", Input).value
        assert sorted(typed.split(",")) == ["race", "sex"]


async def test_threshold_control_matches_sklearn_and_stores(adult: ProjectStore) -> None:
    stored = ev.latest(adult)
    assert stored is not None and stored.threshold == 0.5
    app = MlwbApp(adult)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_evaluate(app, pilot)
        assert screen.scores is not None  # the holdout was scored in a worker
        pane = screen.query_one(MetricsPane)
        f1 = stored.metric("f1")
        assert f1 is not None and f1.model.value is not None
        assert pane.live_value("f1") == f"{f1.model.value:.4f}"
        await pilot.press("m", "minus", "minus", "minus", "minus", "minus")
        await pilot.pause()
        assert screen.threshold == 0.45
        assert float(pane.live_value("f1")) == pytest.approx(
            holdout_f1(adult, stored.run_id, 0.45), abs=5e-5
        )
        assert cell(screen.query_one("#metric-table", DataTable), "f1", "model") == (
            f"{f1.model.value:.4f}"
        )  # the stored threshold's value and interval stay
        box = screen.query_one("#threshold-input", Input)
        box.focus()
        box.value = "0.3"
        await pilot.press("enter")
        await pilot.pause()
        assert screen.threshold == 0.3
        assert float(pane.live_value("f1")) == pytest.approx(
            holdout_f1(adult, stored.run_id, 0.3), abs=5e-5
        )
        before = count_evaluations(adult)
        await pilot.press("s")
        await settle(app, pilot)
        latest = ev.latest(adult)
        assert latest is not None and count_evaluations(adult) == before + 1
        assert latest.threshold == 0.3 and latest.threshold_source == "given"
        assert screen.evaluation is not None and screen.evaluation.id == latest.id
        stored_f1 = latest.metric("f1")
        assert stored_f1 is not None and stored_f1.model.value == pytest.approx(
            holdout_f1(adult, stored.run_id, 0.3), abs=1e-9
        )


async def test_cancel_stores_nothing_and_evaluating_stores_one(adult: ProjectStore) -> None:
    first = ev.latest(adult)
    assert first is not None
    app = MlwbApp(adult)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_evaluate(app, pilot)
        await pilot.press("e", "escape")
        await settle(app, pilot)
        assert not screen.evaluating
        assert count_evaluations(adult) == 1
        assert screen.evaluation is not None and screen.evaluation.id == first.id
        assert any("nothing was stored" in n.message for n in app._notifications)
        await pilot.press("e")
        assert screen.evaluating
        await settle(app, pilot)
        assert not screen.evaluating
        latest = ev.latest(adult)
        assert latest is not None and latest.id != first.id
        assert count_evaluations(adult) == 2
        assert screen.evaluation is not None and screen.evaluation.id == latest.id
        assert screen.query_one(GateBanner).outcome_text == latest.gate.outcome.label
        assert latest.resamples == RESAMPLES
        assert [s.model_dump() for s in latest.segments] == [
            s.model_dump() for s in first.segments
        ]  # the same columns to slice by and the same seed give the same segments


async def test_regression_shows_residual_plots_and_no_threshold(tmp_path: Path) -> None:
    store = make_project(tmp_path, "bikes", bikes_frame(10), regression_charter("cnt"))
    settings = TrainSettings(models=["ridge"], cv=3)
    _train_choose_evaluate(store, settings, "ridge")
    stored = ev.latest(store)
    assert stored is not None and stored.task == "regression"
    app = MlwbApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_evaluate(app, pilot)
        assert not screen.query_one("#threshold-bar").display
        assert screen.check_action("threshold", (1,)) is False
        table = screen.query_one("#metric-table", DataTable)
        mae = stored.metric("mae")
        assert mae is not None and mae.model.value is not None
        assert cell(table, "mae", "model") == f"{mae.model.value:.4f}"
        await pilot.press("p")
        await pilot.pause()
        assert "▸actual vs predicted◂" in str(screen.query_one("#plot-bar").render())
        await pilot.press("p")
        await pilot.pause()
        assert "▸residual histogram◂" in str(screen.query_one("#plot-bar").render())
        assert sum(stored.histogram["counts"]) == stored.n_holdout
        assert np.isfinite(stored.histogram["edges"]).all()
