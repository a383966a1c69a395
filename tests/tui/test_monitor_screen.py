"""Pilot tests of the Monitor screen: the empty states, adding a batch through the dialog
(worker), the severity-sorted feature table and its overlay, recording a decision with the
key, and a bad batch that stores nothing.

The project is the shared passed project (1,500 adult rows, a chosen logistic regression
that passed the gate) with its bundle deployed and promoted, built once per module and
copied for each test; batches are later adult rows with an ``id`` key and the income label.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pilotkit import settle
from textual.widgets import DataTable, Input, Static, TabbedContent

from app.domain.monitor import Decision
from app.domain.stages import Stage
from app.services import monitor, registry
from app.tui import MlwbApp
from screens.monitor import MonitorScreen
from screens.monitor_data import STATUS_WORD
from screens.monitor_dialogs import AddBatchModal, DecisionModal
from storage.db import ProjectStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from train_fixtures import adult_frame, passed_project  # noqa: E402

SIZE = (120, 40)


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A passed project without production, and the same with its bundle in production."""
    base = tmp_path_factory.mktemp("monitor")
    store, run_id = passed_project(base / "live")
    shutil.copytree(store.root, base / "undeployed")
    version = registry.deploy(store, run_id)
    registry.promote(store, version.version)
    batch = adult_frame(4000).tail(2000).with_row_index("id")
    batch.write_csv(base / "batch.csv")
    batch.with_columns(pl.col("age") + 25).write_csv(base / "older.csv")
    batch.drop("age").write_csv(base / "no_age.csv")
    return {"live": store.root, "undeployed": base / "undeployed", "files": base}


@pytest.fixture
def live(roots: dict[str, Path], tmp_path: Path) -> ProjectStore:
    """A fresh copy of the project with a production bundle, for one test."""
    shutil.copytree(roots["live"], tmp_path / "p")
    return ProjectStore.open(tmp_path / "p")


async def open_monitor(app: MlwbApp, pilot: Any) -> MonitorScreen:
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, MonitorScreen)
    return screen


def state_text(screen: MonitorScreen) -> str:
    return str(screen.query_one("#monitor-state", Static).render())


def column(table: DataTable, name: str) -> list[str]:
    return [str(c) for c in table.get_column(name)]


async def add_through_dialog(app: MlwbApp, pilot: Any, path: Path, **fields: str) -> None:
    await pilot.press("a")
    await pilot.pause()
    modal = app.screen
    assert isinstance(modal, AddBatchModal)
    modal.query_one("#add-path", Input).value = str(path)
    for field, value in fields.items():
        modal.query_one(f"#add-{field}", Input).value = value
    modal.query_one("#add-path", Input).focus()
    await pilot.press("enter")
    await settle(app, pilot)


async def test_empty_states_say_what_to_do(roots: dict[str, Path], tmp_path: Path) -> None:
    shutil.copytree(roots["undeployed"], tmp_path / "u")
    undeployed = ProjectStore.open(tmp_path / "u")
    app = MlwbApp(undeployed, start=Stage.MONITOR)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot)
        text = state_text(screen)
        assert "in production" in text and "Deploy (6)" in text
        assert not screen.query_one("#monitor-tabs").display
        await pilot.press("a")  # dimmed: no dialog opens, nothing is stored
        await settle(app, pilot)
        assert app.screen is screen
        assert monitor.list_batches(undeployed) == []

    shutil.copytree(roots["live"], tmp_path / "l")
    app = MlwbApp(ProjectStore.open(tmp_path / "l"), start=Stage.MONITOR)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_monitor(app, pilot)
        text = state_text(screen)
        assert "v1 is in production. No batches yet." in text
        assert "Press a" in text and "mlwb monitor add FILE" in text


async def test_add_a_batch_through_the_dialog(live: ProjectStore, roots: dict[str, Path]) -> None:
    app = MlwbApp(live, start=Stage.MONITOR)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot)
        await add_through_dialog(
            app, pilot, roots["files"] / "batch.csv", name="march", label="income", key="id"
        )
        (stored,) = monitor.list_batches(live)
        assert stored.name == "march" and stored.n_rows == 2000 and stored.key_column == "id"
        table = screen.query_one("#batch-table", DataTable)
        assert table.row_count == 1
        assert column(table, "status") == [STATUS_WORD[stored.status.value]]
        assert column(table, "batch") == ["march"]
        perf = stored.report.performance
        assert perf is not None and perf.metric == "f1"
        assert perf.value is not None and perf.low is not None and perf.high is not None
        assert 0.1 <= perf.value < 1  # three significant digits: three decimals
        expected = f"{perf.value:.3f} [{perf.low:.3f}, {perf.high:.3f}]"
        assert column(table, "metric") == [expected]
        assert str(table.columns["metric"].label) == "f1 [95% CI]"
        assert not screen.adding and not screen.query_one("#monitor-progress").display
        assert screen.query_one("#monitor-tabs").display
        assert "batch 1 march" in str(screen.query_one("#monitor-line", Static).render())


async def test_features_are_listed_most_severe_first(
    live: ProjectStore, roots: dict[str, Path]
) -> None:
    batch = monitor.add_batch(live, roots["files"] / "older.csv", name="older")
    expected = [f.name for f in monitor.get_batch(live, batch.id).report.drift.features]
    assert expected[0] == "age"
    app = MlwbApp(live, start=Stage.MONITOR)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot)
        await pilot.press("enter")  # from the timeline into the batch's features
        await pilot.pause()
        assert screen.query_one("#monitor-tabs", TabbedContent).active == "tab-features"
        table = screen.query_one("#feature-table", DataTable)
        assert [str(k.value) for k in table.rows] == expected
        verdicts = column(table, "verdict")
        n_drifted = batch.report.drift.n_drifted
        assert verdicts[:n_drifted] == ["drifted"] * n_drifted
        assert "drifted" not in verdicts[n_drifted:]
        assert screen.feature == "age"
        assert "Rule: a feature drifts" in str(screen.query_one("#feature-detail").render())
        await pilot.press("down")  # the overlay and detail follow the highlighted feature
        await pilot.pause()
        assert screen.feature == expected[1]
        assert str(screen.query_one("#feature-detail").render()).startswith(expected[1])


async def test_a_decision_is_recorded_with_the_key(
    live: ProjectStore, roots: dict[str, Path]
) -> None:
    batch = monitor.add_batch(live, roots["files"] / "older.csv", name="older")
    app = MlwbApp(live, start=Stage.MONITOR)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot)
        await pilot.press("d")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, DecisionModal)
        assert modal.recommended == batch.report.recommendation
        await pilot.click("#decision-accept")
        modal.query_one("#decision-note", Input).value = "new retirement scheme"
        modal.query_one("#decision-note", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        stored = monitor.get_batch(live, batch.id)
        assert stored.decision is Decision.ACCEPT
        assert stored.decision_note == "new retirement scheme"
        table = screen.query_one("#batch-table", DataTable)
        assert column(table, "decision") == ["accept"]
        text = str(screen.query_one("#recommendation").render())
        assert "accept: new retirement scheme" in text


async def test_a_bad_batch_shows_the_error_and_stores_nothing(
    live: ProjectStore, roots: dict[str, Path]
) -> None:
    app = MlwbApp(live, start=Stage.MONITOR)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot)
        await add_through_dialog(app, pilot, roots["files"] / "nowhere.csv")
        modal = app.screen
        assert isinstance(modal, AddBatchModal)  # the dialog stays, saying why
        assert "There is no file" in str(modal.query_one(".mon-error", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        await add_through_dialog(app, pilot, roots["files"] / "no_age.csv")
        assert app.screen is screen
        assert any(
            "missing column(s) the model needs: age" in n.message for n in app._notifications
        )
        assert monitor.list_batches(live) == []
        assert screen.query_one("#batch-table", DataTable).row_count == 0
        assert "No batches yet" in state_text(screen)
        assert not screen.adding and not screen.query_one("#monitor-progress").display
        with live.connect() as con:
            (action,) = con.execute(
                "SELECT action FROM events WHERE stage = 'monitor' ORDER BY id DESC LIMIT 1"
            ).fetchone()
        assert action == "add_failed"


async def test_trend_legend_names_every_series_and_its_axis(
    live: ProjectStore, roots: dict[str, Path]
) -> None:
    for _ in range(2):
        monitor.add_batch(live, roots["files"] / "batch.csv", label_column="income")
    app = MlwbApp(live, start=Stage.MONITOR)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_monitor(app, pilot)
        plot = str(screen.query_one("#trend-plot").render())
        legend = [line for line in plot.splitlines() if "axis)" in line or "CI bounds" in line]
        assert len(legend) == 3, plot
        assert "95% CI bounds" in legend[0]
        assert "f1 (left axis)" in legend[1]
        assert "drifted % (right axis)" in legend[2]
        inside = [re.split("[│┤]", line, maxsplit=1)[1] for line in legend]
        assert not any("⅃" in line or line.startswith(" L ") for line in inside), legend
        markers = [line.split()[0] for line in inside]
        assert len(set(markers)) == 3, markers  # the series differ without colour too
