"""The Explore screen on a 2,000-column table: every column listed, the cursor and the search
work, and the detail pane follows the cursor to the right column."""

from __future__ import annotations

import pytest
from pilotkit import settle
from textual.widgets import DataTable

from app.domain.dataset import DatasetVersion
from app.services.profile import profile_dataset
from app.tui import MlwbApp
from screens.explore import ExploreScreen
from storage import datasets as ds
from storage.db import ProjectStore

COLUMNS = 2_000
ROWS = 200


def _column_sql(i: int) -> str:
    """Column ``c0000``..: numbers, integer codes and text in turn, all from ``range``."""
    name = ds.quote_ident(f"c{i:04d}")
    kind = i % 3
    if kind == 0:
        return f"(range * {i + 1} % 101)::DOUBLE / 7 AS {name}"
    if kind == 1:
        return f"(range + {i}) % 5 AS {name}"
    return f"'v' || ((range * {i}) % 13)::VARCHAR AS {name}"


@pytest.fixture
def wide_store(store: ProjectStore) -> ProjectStore:
    """A project whose one dataset has 2,000 columns and 200 rows, made in DuckDB SQL and
    profiled (the screen then reads the stored profile)."""
    columns = ", ".join(_column_sql(i) for i in range(COLUMNS))
    with store.transaction() as con:
        table = ds.new_table_name(con, "wide", 1)
        con.execute(f"CREATE TABLE {ds.quote_ident(table)} AS SELECT {columns} FROM range({ROWS})")
        n_rows, fingerprint = ds.fingerprint_table(con, table)
        ds.insert_version(
            con,
            DatasetVersion(
                name="wide",
                version=1,
                table_name=table,
                n_rows=n_rows,
                n_cols=COLUMNS,
                fingerprint=fingerprint,
            ),
        )
        ds.set_state(con, ds.CURRENT_DATASET, "wide")
    profile_dataset(store, "wide")
    return store


def _stats(screen: ExploreScreen) -> str:
    return str(screen.query_one("#column-stats").render()).rstrip()


async def test_two_thousand_columns(wide_store: ProjectStore) -> None:
    app = MlwbApp(wide_store)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ExploreScreen) and screen.profile is not None
        screen.PLOT_QUIET = 0  # draw every plot at once (no pause while the cursor moves)
        line = str(screen.query_one("#profile-line").render())
        assert line.startswith(f"wide@1 · {ROWS} rows × {COLUMNS} cols")

        table = screen.query_one("#column-list", DataTable)
        assert table.row_count == COLUMNS
        assert [str(table.get_row_at(i)[1]) for i in (0, 1, COLUMNS - 1)] == [
            "c0000",
            "c0001",
            "c1999",
        ]
        assert _stats(screen).startswith("c0000  (numeric, DOUBLE")

        table.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        assert table.cursor_row == 2
        assert _stats(screen).startswith("c0002  (categorical, VARCHAR")
        await pilot.press("ctrl+end")
        await pilot.pause()
        assert table.cursor_row == COLUMNS - 1
        assert _stats(screen).startswith("c1999  (categorical, BIGINT")
        table.move_cursor(row=1500)
        await pilot.pause()
        assert _stats(screen).startswith("c1500  (numeric, DOUBLE")
        await pilot.press("pagedown")
        await pilot.pause()
        paged = table.cursor_row
        assert paged > 1500
        assert _stats(screen).startswith(f"c{paged:04d}  (")

        await pilot.press("slash", *"C19")  # search ignores case
        await pilot.pause()
        expected = [f"c{i:04d}" for i in range(COLUMNS) if "c19" in f"c{i:04d}"]
        assert [c.name for c in screen.shown] == expected
        assert table.row_count == len(expected) == 100
        assert _stats(screen).startswith("c1900  (")
        await pilot.press("enter", "down")
        await pilot.pause()
        assert _stats(screen).startswith("c1901  (")
        await pilot.press("slash", *"x", "enter")
        await pilot.pause()
        assert table.row_count == 0
        assert _stats(screen) == "No column matches."
