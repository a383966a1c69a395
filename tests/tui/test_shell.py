"""Pilot tests of the app shell and the Problem screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilotkit import settle
from textual.command import CommandPalette
from textual.widgets import Input, Select, Static, TextArea

from app.services import problem
from app.tui import MlwbApp
from screens.charter_history import CharterHistoryModal
from screens.data import DataScreen
from screens.modals import ConfirmModal, HelpModal, ReasonModal
from screens.overview import StageOverviewScreen
from screens.problem import ProblemScreen
from screens.widgets.stepper import StageStep
from storage.db import ProjectStore

SIZE = (120, 40)


def step_classes(app: MlwbApp, stage: str) -> set[str]:
    return set(app.screen.query_one(f"#step-{stage}", StageStep).classes)


async def test_digits_switch_stages_and_stepper_shows_state(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ProblemScreen)
        assert {"-current", "-active"} <= step_classes(app, "problem")
        assert "-locked" in step_classes(app, "data")
        await pilot.press("4")
        await settle(app, pilot)
        assert app.current_mode == "train"
        assert isinstance(app.screen, StageOverviewScreen)
        state = app.screen.query_one("#stage-state", Static)
        assert str(state.render()) == "Locked\nFinish Explore (stage 3) first."
        assert "-active" in step_classes(app, "train")
        await pilot.press("1")
        await settle(app, pilot)
        assert app.current_mode == "problem"


async def test_help_opens_for_the_current_stage(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpModal)
        assert app.screen.text.startswith("## Data")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DataScreen)


async def test_palette_reaches_stage_jumps(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"Go to 7 Monitor")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.current_mode == "monitor"


async def fill_minimal(app: MlwbApp, pilot: Any, threshold: str) -> ProblemScreen:
    screen = app.screen
    assert isinstance(screen, ProblemScreen)
    screen.query_one("#f-objective", TextArea).text = "Find high earners"
    screen.query_one("#f-task", Select).value = "binary"
    await pilot.pause()
    screen.query_one("#f-target", Input).value = "income"
    screen.query_one("#f-positive_class", Input).value = ">50K"
    screen.query_one("#f-primary_metric", Select).value = "f1"
    screen.query_one("#f-threshold", Input).value = threshold
    await pilot.pause()
    return screen


async def test_invalid_charter_shows_inline_errors_and_saves_nothing(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = await fill_minimal(app, pilot, "7")
        error = screen.query_one("#err-threshold", Static)
        assert error.display
        assert str(error.render()) == "7 is outside the range of F1 [0, 1]"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert not isinstance(app.screen, ConfirmModal)
    assert problem.current_charter(store) is None


async def test_valid_charter_saves_after_confirmation(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = await fill_minimal(app, pilot, "0.7")
        screen.query_one("#c-metric", Select).value = "recall"
        screen.query_one("#c-value", Input).value = "0.6"
        await pilot.click("#c-add")
        await pilot.pause()
        assert screen.constraints == [{"metric": "recall", "bound": ">=", "value": 0.6}]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.screen.question == "Save charter version 1?"
        await pilot.press("y")
        await settle(app, pilot)
        assert "-done" in step_classes(app, "problem")
        assert "-current" in step_classes(app, "data")
    saved = problem.current_charter(store)
    assert saved is not None and saved.version == 1
    assert saved.charter.primary_text() == "f1 >= 0.7"
    assert [c.text() for c in saved.charter.constraints] == ["recall >= 0.6"]
    assert saved.charter.name == "Test project"


async def test_cancelled_confirmation_saves_nothing(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await fill_minimal(app, pilot, "0.7")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("escape")
        await settle(app, pilot)
    assert problem.current_charter(store) is None


async def test_history_loads_an_older_version(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    problem.save_charter(store, charter_data, note="first")
    problem.save_charter(store, charter_data | {"threshold": 0.8}, note="stricter")
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.query_one("#f-threshold", Input).value == "0.8"
        await pilot.press("f2")
        await settle(app, pilot)
        assert isinstance(app.screen, CharterHistoryModal)
        assert [v.version for v in app.screen.versions] == [2, 1]
        await pilot.press("down")
        await pilot.press("l")
        await settle(app, pilot)
        assert app.screen is screen
        assert screen.query_one("#f-threshold", Input).value == "0.65"
        assert screen.is_dirty(screen.collect()[0])


async def test_markup_in_names_renders_literally(tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "m", '[bold]Q3 "churn"')
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.title == '[bold]Q3 "churn"'
        assert '[bold]Q3 "churn"' in app.screen.query_one("#f-name", Input).value


async def test_save_failure_reaches_the_user(
    store: ProjectStore, charter_data: dict[str, Any]
) -> None:
    """A save refused by the store (another process saved the same charter) is reported."""
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = await fill_minimal(app, pilot, "0.7")
        charter, _ = screen.collect()
        assert charter is not None
        problem.save_charter(store, charter)
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        messages = [n.message for n in app._notifications]
        assert any("nothing to save: the charter equals version 1" in m for m in messages)
    assert problem.current_charter(store).version == 1


async def test_escape_leaves_a_text_field_so_digits_switch_stages(store: ProjectStore) -> None:
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ProblemScreen)
        name = screen.query_one("#f-name", Input)
        name.focus()
        await pilot.pause()
        await pilot.press("4")
        await pilot.pause()
        assert app.current_mode == "problem" and name.value.endswith("4")
        await pilot.press("escape")
        await pilot.pause()
        assert screen.focused is None
        objective = screen.query_one("#f-objective", TextArea)
        objective.focus()
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert screen.focused is None
        await pilot.press("2")
        await settle(app, pilot)
        assert app.current_mode == "data"


async def test_escape_in_a_dialog_field_still_closes_the_dialog(store: ProjectStore) -> None:
    app = MlwbApp(store)
    answers: list[str | None] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        app.push_screen(ReasonModal("Why?", "because", "reason", "Go", "the test"), answers.append)
        await pilot.pause()
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen and answers == [None]
