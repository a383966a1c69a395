"""Pilot tests of the Explore screen: profile in a worker, columns, alerts to fixes, views."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pilotkit import settle

from app.services import ingest, problem
from app.tui import MlwbApp
from screens.data import DataScreen
from screens.explore import ExploreScreen, matrix_text
from screens.step_dialog import StepDialog
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
SIZE = (120, 40)


@pytest.fixture
def adult_store(store: ProjectStore, charter_data: dict[str, Any]) -> ProjectStore:
    problem.save_charter(store, charter_data)
    ingest.import_file(store, ADULT, name="adult")
    return store


async def open_explore(app: MlwbApp, pilot: Any) -> ExploreScreen:
    await settle(app, pilot)
    await pilot.press("3")
    await settle(app, pilot)
    assert isinstance(app.screen, ExploreScreen)
    return app.screen


async def test_no_dataset_says_what_to_do(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_explore(app, pilot)
        assert str(screen.query_one("#profile-line").render()).startswith("No dataset yet")


async def test_profile_columns_and_plot_kinds(adult_store: ProjectStore) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_explore(app, pilot)
        assert screen.profile is not None
        assert screen.profile.n_rows == 32561
        line = str(screen.query_one("#profile-line").render())
        assert line.startswith("adult@1 · 32,561 rows × 15 cols")
        table = screen.query_one("#column-list")
        assert table.row_count == 15
        stats = str(screen.query_one("#column-stats").render())
        assert stats.startswith("age  (numeric")
        assert "min 17" in stats and "max 90" in stats
        table.focus()
        await pilot.press("down")
        await pilot.pause()
        assert str(screen.query_one("#column-stats").render()).startswith("workclass")
        await pilot.press("p")
        await pilot.pause()
        assert screen.plot_kind == 1
        await pilot.press("slash", *"capital")
        await pilot.pause()
        assert [c.name for c in screen.shown] == ["capital-gain", "capital-loss"]


async def test_alert_jumps_to_the_fix_on_the_data_screen(adult_store: ProjectStore) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_explore(app, pilot)
        assert screen.profile is not None
        kinds = [a.kind for a in screen.profile.alerts]
        assert "duplicates" in kinds
        index = kinds.index("duplicates")
        await pilot.press("a")
        screen.query_one("#alerts").move_cursor(row=index)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.current_mode == "data"
        assert isinstance(app.screen, StepDialog)
        assert app.screen.kind == "drop_duplicates"
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, DataScreen)


async def test_target_and_correlation_views(adult_store: ProjectStore) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_explore(app, pilot)
        await pilot.press("y")
        await pilot.pause()
        text = str(screen.query_one("#target-text").render())
        assert text.startswith("target 'income' · binary")
        assert "24.1 %" in text
        await pilot.press("x")
        await pilot.pause()
        assert screen.query_one("#correlation-pairs").row_count > 0


def test_matrix_fits_80_columns(adult_store: ProjectStore) -> None:
    from app.services import profile

    found = profile.profile_dataset(adult_store, "adult")
    text = matrix_text(found.correlations, most=(80 - 12) // 7)
    assert max(len(line) for line in text.splitlines()) <= 80


def test_box_line_is_to_scale() -> None:
    from app.domain.profile import BoxPlot
    from screens.explore import box_line

    box = BoxPlot(
        low_whisker=0, q1=10, median=20, q3=30, high_whisker=40, outliers_below=0, outliers_above=3
    )
    line = box_line(box, width=41)
    cells = line.split(" ")[1]
    assert len(cells) == 41
    assert cells[0] == "├" and cells[40] == "┤"
    assert cells[20] == "│"
    assert set(cells[10:20]) == {"▒"} and set(cells[21:31]) == {"▒"}
    assert set(cells[1:10]) == {"─"} and set(cells[31:40]) == {"─"}
    assert line.endswith("(median 20)")
