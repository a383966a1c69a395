"""Pilot tests of the Data screen: import with preview, paging, sort, filter, fixes, undo."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from pilotkit import settle

from app.services import browse, ingest
from app.tui import MlwbApp
from screens.data import DataScreen
from screens.import_dialog import ImportDialog
from screens.step_dialog import StepDialog
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
SIZE = (120, 40)


def status_text(app: MlwbApp) -> str:
    return str(app.screen.query_one("#grid-status").render())


def line_text(app: MlwbApp) -> str:
    return str(app.screen.query_one("#dataset-line").render())


@pytest.fixture
def adult_store(store: ProjectStore) -> ProjectStore:
    ingest.import_file(store, ADULT, name="adult")
    return store


@pytest.fixture(scope="module")
def adult_rows() -> list[dict[str, str]]:
    with ADULT.open(newline="") as handle:
        return [row for row in csv.DictReader(handle) if row.get("income")]


async def open_data(app: MlwbApp, pilot: Any) -> DataScreen:
    await settle(app, pilot)
    await pilot.press("2")
    await settle(app, pilot)
    assert isinstance(app.screen, DataScreen)
    return app.screen


async def test_import_through_the_dialog(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_data(app, pilot)
        assert line_text(app).startswith("No dataset yet")
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ImportDialog)
        app.screen.query_one("#i-path").value = str(ADULT)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        summary = str(app.screen.query_one("#import-summary").render())
        assert "32,561 rows" in summary and "15 columns" in summary
        assert app.screen.query_one("#import-rows").row_count == 20
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert line_text(app).startswith("adult v1 (raw import) · 32,561 rows × 15 cols")
        assert status_text(app).startswith("rows 1–100 of 32,561 · page 1/326")
        assert screen.query_one("#grid").row_count == 100
    found = browse.current_dataset(store)
    assert found is not None and found.n_rows == 32561


async def test_bad_path_is_reported_in_the_dialog(store: ProjectStore, tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_data(app, pilot)
        await pilot.press("i")
        await pilot.pause()
        app.screen.query_one("#i-path").value = str(tmp_path / "empty.csv")
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        summary = str(app.screen.query_one("#import-summary").render())
        assert summary.startswith("✗") and "empty" in summary
        assert app.screen.query_one("#confirm").disabled
    assert browse.current_dataset(store) is None


async def test_paging_sorting_filtering_match_polars(
    adult_store: ProjectStore, adult_rows: list[dict[str, str]]
) -> None:
    ages = [int(r["age"]) for r in adult_rows]
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_data(app, pilot)
        grid = screen.query_one("#grid")
        await pilot.press("right_square_bracket")
        await settle(app, pilot)
        assert status_text(app).startswith("rows 101–200 of 32,561 · page 2/326")
        assert grid.get_row_at(0)[0] == adult_rows[100]["age"]
        await pilot.press("g", *"32561", "enter")
        await settle(app, pilot)
        assert status_text(app).startswith("rows 32,501–32,561 of 32,561")
        assert grid.get_row_at(60)[2] == adult_rows[-1]["fnlwgt"].strip()
        grid.focus()
        grid.move_cursor(column=0)
        await pilot.press("s")
        await settle(app, pilot)
        assert grid.get_row_at(0)[0] == str(min(ages))
        await pilot.press("s")
        await settle(app, pilot)
        assert grid.get_row_at(0)[0] == str(max(ages))
        await pilot.press("slash", *"age > 80", "enter")
        await settle(app, pilot)
        expected = sum(a > 80 for a in ages)
        assert f"of {expected:,}" in status_text(app)
        assert "filter: age > 80" in status_text(app)


async def test_malicious_filter_changes_nothing(adult_store: ProjectStore) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        await open_data(app, pilot)
        await pilot.press("slash", *"read_csv('/etc/passwd')", "enter")
        await settle(app, pilot)
        messages = " ".join(str(n.message) for n in app._notifications)
        assert "read_csv" in messages
        assert status_text(app).startswith("rows 1–100 of 32,561")
    with adult_store.connect() as con:
        tables = con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
    assert tables >= 1


async def test_fix_from_suggestions_then_undo(adult_store: ProjectStore) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_data(app, pilot)
        assert any(s.kind == "duplicates" for s in screen.suggestions)
        index = next(i for i, s in enumerate(screen.suggestions) if s.kind == "duplicates")
        await pilot.press("f")
        table = screen.query_one("#suggestions")
        table.move_cursor(row=index)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, StepDialog)
        summary = str(app.screen.query_one("#s-summary").render())
        assert summary.startswith("removes 24 of 32,561 rows")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert line_text(app).startswith("adult v2 (from v1) · 32,537 rows")
        assert screen.query_one("#steps").row_count == 1
        await pilot.press("u")
        await settle(app, pilot)
        assert line_text(app).startswith("adult v1 (raw import) · 32,561 rows")
    current = browse.current_dataset(adult_store)
    assert current is not None and current.version == 1


async def test_step_dialog_builds_and_previews_a_derived_column(
    adult_store: ProjectStore, adult_rows: list[dict[str, str]]
) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_data(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, StepDialog)
        dialog.query_one("#s-kind").value = "derive_column"
        await settle(app, pilot)
        dialog.query_one("#sf-name").value = "hours_per_year"
        dialog.query_one("#sf-expression").value = '"hours-per-week" * 52'
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert "adds hours_per_year" in str(dialog.query_one("#s-summary").render())
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert "16 cols" in line_text(app)
    current = browse.current_dataset(adult_store)
    assert current is not None
    frame = browse.page(adult_store, current.name, current.version, offset=0, limit=5)
    assert frame["hours_per_year"].to_list() == [
        int(r["hours-per-week"]) * 52 for r in adult_rows[:5]
    ]


async def test_invalid_step_is_refused_in_the_dialog(adult_store: ProjectStore) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_data(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        dialog = app.screen
        dialog.query_one("#s-kind").value = "filter_rows"
        await settle(app, pilot)
        dialog.query_one("#sf-expression").value = "1; DROP TABLE x"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert str(dialog.query_one("#s-summary").render()).startswith("✗")
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen
    current = browse.current_dataset(adult_store)
    assert current is not None and current.version == 1


async def test_required_fields_start_empty_when_the_kind_changes(
    adult_store: ProjectStore,
) -> None:
    app = MlwbApp(adult_store)
    async with app.run_test(size=SIZE) as pilot:
        await open_data(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        dialog = app.screen
        assert isinstance(dialog, StepDialog)
        dialog.query_one("#s-kind").value = "filter_rows"
        await settle(app, pilot)
        assert dialog.query_one("#sf-expression").value == ""
        dialog.query_one("#s-kind").value = "derive_column"
        await settle(app, pilot)
        assert dialog.query_one("#sf-name").value == ""
        assert dialog.query_one("#sf-expression").value == ""
        dialog.query_one("#s-kind").value = "null_markers"
        await settle(app, pilot)
        assert dialog.query_one("#sf-markers").value == ""
