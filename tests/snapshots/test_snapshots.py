"""SVG snapshots of the shell at 80x24 and 120x40 (review changes before updating)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services import problem
from app.tui import MlwbApp
from storage.db import ProjectStore

FIXED = "2026-01-05 09:30:00"


def demo_store(tmp_path: Path, charter_data: dict[str, Any] | None) -> ProjectStore:
    store = ProjectStore.create(tmp_path / "snap", "Adult income: who earns over 50K")
    if charter_data:
        problem.save_charter(store, charter_data, note="demo charter")
    with store.connect() as con:
        con.execute("UPDATE charters SET saved_at = ?::TIMESTAMP::TIMESTAMPTZ", [FIXED])
    return store


async def _settle(pilot: Any) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_problem_screen(
    snap_compare: Any, tmp_path: Path, charter_data: dict[str, Any], size: tuple[int, int]
) -> None:
    app = MlwbApp(demo_store(tmp_path, charter_data))
    assert snap_compare(app, terminal_size=size, run_before=_settle)


def test_problem_screen_invalid(snap_compare: Any, tmp_path: Path) -> None:
    app = MlwbApp(demo_store(tmp_path, None))

    async def type_bad(pilot: Any) -> None:
        await _settle(pilot)
        await pilot.press("ctrl+s")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=type_bad)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_locked_stage(
    snap_compare: Any, tmp_path: Path, charter_data: dict[str, Any], size: tuple[int, int]
) -> None:
    app = MlwbApp(demo_store(tmp_path, charter_data))

    async def go(pilot: Any) -> None:
        await _settle(pilot)
        await pilot.press("4")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=go)
