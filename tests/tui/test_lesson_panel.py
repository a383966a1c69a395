"""Pilot tests of the lesson panel: toggle, the open stage's tasks, hints, refresh, layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from pilotkit import settle
from textual.widgets import Static

from app.services import lesson_reset as lr
from app.services import problem
from app.services.lesson_reference import reference_charter
from app.tui import MlwbApp
from screens.lesson import LessonPanel
from storage.db import ProjectStore

SIZE = (120, 40)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo root shared by the lesson tests (checkpoints are cached in it)."""
    path = tmp_path_factory.getbasetemp() / "lesson-home"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def learner(home: Path, tmp_path: Path) -> ProjectStore:
    """A fresh bikes lesson project."""
    return lr.create_project("bikes", tmp_path / "learner", home)


def text(app: MlwbApp, widget_id: str) -> str:
    return str(app.screen.query_one(f"#{widget_id}", Static).render())


def panel(app: MlwbApp) -> LessonPanel:
    return app.screen.query_one(LessonPanel)


async def test_the_toggle_shows_the_tasks_of_the_open_stage(learner: ProjectStore) -> None:
    app = MlwbApp(learner)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert not panel(app).display
        await pilot.press("ctrl+l")
        await settle(app, pilot)
        assert panel(app).display
        assert text(app, "lesson-head") == "Lesson bikes · 1 Problem · 0/10 done"
        assert text(app, "lesson-tasks") == "○ Define the KPI\n  no charter saved yet"
        assert text(app, "lesson-explain").startswith("Define the KPI\nSave a charter: regression")
        await pilot.press("2")
        await settle(app, pilot)
        assert app.current_mode == "data"
        assert panel(app).display
        assert text(app, "lesson-tasks") == "○ Mark instant as a row ID\n  instant has role feature"
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert not panel(app).display


async def test_hints_and_progress_follow_the_project(learner: ProjectStore) -> None:
    app = MlwbApp(learner, lesson=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert panel(app).display
        assert text(app, "lesson-hint") == "f6: a hint for “Define the KPI”"
        await pilot.press("f6")
        await settle(app, pilot)
        assert text(app, "lesson-hint") == (
            "Hint 1/4: Press 1 for Problem, fill in the form and save with ctrl+s."
        )
        problem.save_charter(learner, reference_charter("bikes"), "saved elsewhere")
        app.refresh_status()
        await settle(app, pilot)
        assert text(app, "lesson-head") == "Lesson bikes · 1 Problem · 1/10 done"
        assert text(app, "lesson-tasks") == "✓ Define the KPI\n  charter v1: r2 >= 0.75 on 'cnt'"
        # With every task of the stage done, the panel explains the last one and keeps its hint.
        assert text(app, "lesson-hint").startswith("Hint 1/4")
    with learner.connect() as con:
        row = con.execute(
            "SELECT summary FROM events WHERE stage = 'lesson' AND action = 'hint'"
        ).fetchone()
    assert row == ("hint 1/4 of task 'kpi'",)


async def test_the_palette_reaches_lesson_mode(learner: ProjectStore) -> None:
    app = MlwbApp(learner)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "Lesson: next hint" in commands
        commands["Lesson mode: show or hide the lesson panel"].callback()
        await settle(app, pilot)
        assert panel(app).display
        assert "Define the KPI" in text(app, "lesson-tasks")


async def test_a_project_without_a_lesson_says_how_to_start_one(tmp_path: Path) -> None:
    store = ProjectStore.create(tmp_path / "plain", "Churn")
    app = MlwbApp(store, lesson=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "not a lesson or demo project" in text(app, "lesson-tasks")
        assert "mlwb lesson adult" in text(app, "lesson-tasks")


@pytest.mark.parametrize(
    ("size", "region"),
    [((120, 40), (78, 0, 42, 40)), ((80, 24), (0, 13, 80, 10))],
)
async def test_the_panel_docks_right_when_wide_and_below_when_narrow(
    learner: ProjectStore, size: tuple[int, int], region: tuple[int, int, int, int]
) -> None:
    app = MlwbApp(learner, lesson=True)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        assert tuple(panel(app).region) == region
