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


def test_boxes_text_draws_every_group_to_one_scale() -> None:
    from app.domain.profile import BoxPlot, GroupBox, TargetBoxes
    from screens.explore import boxes_text

    def box(low: float, q1: float, median: float, q3: float, high: float, out: int) -> BoxPlot:
        return BoxPlot(
            low_whisker=low,
            q1=q1,
            median=median,
            q3=q3,
            high_whisker=high,
            outliers_below=out,
            outliers_above=2 * out,
        )

    boxes = TargetBoxes(
        target="[y]",
        grouping="class",
        iqr_factor=1.5,
        exact=True,
        boxes=[
            GroupBox(label="no", count=1200, box=box(0, 10, 20, 30, 40, 1)),
            GroupBox(label="yes", count=34, box=box(40, 60, 70, 80, 100, 5)),
        ],
    )
    # label (3), rows (5), 101 cells, median (2), outside (2): four spaces between, one spare
    lines = boxes_text("[x]", boxes, width=3 + 5 + 101 + 2 + 2 + 5).splitlines()
    assert lines[0].startswith("[x] by [y] class · rows · box")
    first, second, axis = lines[1], lines[2], lines[3]
    # label, rows, 101 cells for the scale 0..100 (one cell per unit), median, outside
    assert first.startswith("no  1,200 ") and first.endswith(" 20  3")
    assert second.startswith("yes    34 ") and second.endswith(" 70 15")
    cells = [line[10:111] for line in (first, second)]
    assert cells[0][0] == "├" and cells[0][40] == "┤" and cells[0][20] == "│"
    assert set(cells[0][10:20]) == {"▒"} and set(cells[0][41:]) == {" "}
    assert cells[1][:40] == " " * 40 and cells[1][40] == "├" and cells[1][100] == "┤"
    assert cells[1][70] == "│" and set(cells[1][60:70]) == {"▒"}
    assert axis[10:].startswith("0 ") and axis.endswith(" 100") and len(axis) == 111


async def test_box_by_target_and_scatter_views(adult_store: ProjectStore) -> None:
    import numpy as np
    import polars as pl

    from screens.explore import ColumnPlot

    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_explore(app, pilot)
        plot = screen.query_one("#column-plot", ColumnPlot)
        boxes = screen.query_one("#column-boxes")
        assert plot.figure[:2] == ("age", "histogram") and not boxes.display
        await pilot.press("p", "p")
        await pilot.pause()
        assert screen.plot_kind == 2 and boxes.display and not plot.display
        text = str(boxes.render())
        assert text.startswith("age by income class · rows · box")
        income = pl.read_csv(ADULT)["income"].value_counts()
        counts = dict(income.iter_rows())
        lines = text.splitlines()
        assert lines[1].startswith(f" <=50K {counts[' <=50K']:,} ├")
        assert lines[2].startswith(f" >50K   {counts[' >50K']:,} ")
        by_class = {g.label: g.box for g in screen.profile.column("age").target_boxes.boxes}
        for line, label in zip(lines[1:3], (" <=50K", " >50K"), strict=True):
            b = by_class[label]
            assert line.split()[-2:] == [f"{b.median:g}", f"{b.outliers_below + b.outliers_above}"]
        await pilot.press("p")
        await settle(app, pilot)  # the scatter sample comes from a worker
        assert plot.display and not boxes.display
        partner = screen.profile.scatter_partner("age")
        sample = screen.scatters[("age", partner)]
        shown = len(sample.points)
        assert plot.figure == (
            "age",
            partner,
            "scatter",
            f"age vs {partner}: seeded sample of {shown:,} of 32,561 rows",
        )
        assert 1_500 < shown <= 2_000 and sample.rows == 32_561
        ages = {float(a) for a in pl.read_csv(ADULT)["age"].drop_nulls().to_list()}
        assert {x for x, _ in sample.points} <= ages
        assert np.isfinite(np.array(sample.points)).all()
        # a categorical column has no scatter: its counts are shown instead
        screen.PLOT_QUIET = 0
        await pilot.press("down")
        await pilot.pause()
        assert plot.figure[:2] == ("workclass", "bars")


async def test_neighbour_plots_are_rendered_ahead(adult_store: ProjectStore) -> None:
    from screens.explore import ColumnPlot

    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_explore(app, pilot)
        screen.PLOT_QUIET = 0
        plot = screen.query_one("#column-plot", ColumnPlot)
        builds: list[object] = []
        build = plot._build

        def counted() -> object:
            builds.append(plot.figure)
            return build()

        plot._build = counted  # type: ignore[method-assign]
        plot._renders.clear()
        screen._prefetch()  # what the idle timer runs
        assert [f[0] for f in builds] == ["workclass"]  # the next column, drawn ahead ...
        assert plot.figure[0] == "age"  # ... while the screen still shows the current one
        assert "age: histogram" in str(plot.render().content)  # a repaint draws "age"
        builds.clear()
        screen._prefetch()
        assert builds == []  # "workclass" is kept and there is no column above "age"
        await pilot.press("down")
        await pilot.pause()
        # Shown without a rebuild (the idle timer may already be drawing the next neighbour).
        assert plot.figure[0] == "workclass"
        assert "workclass" not in [f[0] for f in builds]


async def test_a_fast_moving_cursor_updates_the_stats_and_defers_the_plot(
    adult_store: ProjectStore,
) -> None:
    from screens.explore import ColumnPlot

    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_explore(app, pilot)
        plot = screen.query_one("#column-plot", ColumnPlot)
        screen.PLOT_QUIET = 3600  # every move counts as "moving fast"
        screen.query_one("#column-list").focus()
        await pilot.press("down", "down")
        await pilot.pause()
        stats = str(screen.query_one("#column-stats").render())
        assert stats.startswith("fnlwgt  (numeric")  # the stats follow every move ...
        assert plot.figure[0] == "age"  # ... the plot waits for the cursor to rest
        assert screen._plot_timer is not None
        screen._plot_timer.stop()
        screen._draw_plot()  # what the timer does when the cursor rests
        assert plot.figure[:2] == ("fnlwgt", "histogram")
