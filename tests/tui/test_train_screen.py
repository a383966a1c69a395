"""Pilot tests of the Train screen: presets, settings, training in a worker with live progress,
the leaderboard against the service's, run details, cancel and resume, the hyperparameter
editor and choosing a run.

Training runs on the first 2,000 rows of adult.csv (trimmed) with 3 folds and light forest
and boosting settings so the file stays fast; BLAS/OpenMP pools are limited to one thread so a
busy machine does not oversubscribe its cores (speed only, no timing is asserted).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from pilotkit import settle
from textual.widgets import DataTable, Input, Select, SelectionList, Static
from threadpoolctl import threadpool_limits

from app.domain.training import CANDIDATES, PRESETS, RunStatus, candidates_for
from app.services import ingest, problem
from app.services.demo import DEMO_CHARTERS
from app.tui import MlwbApp
from screens.modals import ConfirmModal
from screens.train import TrainScreen
from screens.train_params import ParamEditor
from screens.train_progress import TrainProgress
from screens.train_setup import TrainSetup
from screens.widgets.progress_panel import ProgressPanel
from storage import training as store_runs
from storage.db import ProjectStore

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "sample_data" / "adult.csv"
ROWS = 2_000
SIZE = (120, 40)
LIGHT = {"rf": {"n_estimators": 20}, "hgb": {"max_iter": 30}, "sm_logit": {"alpha": 1.0}}
"""Small forests and boosting; an L1 penalty keeps Logit's coefficients finite on 2,000 rows
(without it the rare one-hot levels separate the classes and the fit fails, as it should)."""
QUICK = list(PRESETS["quick"][DEMO_CHARTERS["adult"]["task"]])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project of the first 2,000 adult rows, whitespace trimmed, under the demo charter."""
    folder = tmp_path_factory.mktemp("train")
    lines = ADULT.read_text().splitlines()[: ROWS + 1]
    csv = folder / "adult_2k.csv"
    csv.write_text("\n".join(line.replace(", ", ",") for line in lines) + "\n")
    store = ProjectStore.create(folder / "base", "Adult 2k")
    problem.save_charter(store, DEMO_CHARTERS["adult"])
    ingest.import_file(store, csv, name="adult")
    return store.root


@pytest.fixture
def project(prepared: Path, tmp_path: Path) -> ProjectStore:
    """A fresh copy of the prepared project for one test."""
    shutil.copytree(prepared, tmp_path / "p")
    return ProjectStore.open(tmp_path / "p")


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train with one BLAS/OpenMP thread: OpenMP limits apply per calling thread, so the
    limit is set inside the worker thread that runs the service (speed only)."""
    from app.services import training as tr

    real = tr.train

    def single_threaded(*args: Any, **kwargs: Any) -> int:
        with threadpool_limits(limits=1):
            return real(*args, **kwargs)

    monkeypatch.setattr(tr, "train", single_threaded)


async def open_train(app: MlwbApp, pilot: Any) -> TrainScreen:
    await settle(app, pilot)
    await pilot.press("4")
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, TrainScreen)
    assert screen.ready
    return screen


def light_settings(screen: TrainScreen, cv: str = "3") -> None:
    """Three folds and small forests/boosting (the editor itself is tested separately)."""
    screen.query_one("#t-cv", Input).value = cv
    screen.params = {k: dict(v) for k, v in LIGHT.items()}
    screen.query_one(TrainSetup).set_overrides(screen.params)


def cells(table: DataTable, row: int) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


def expected_row(row: Any, primary: str) -> list[str]:
    """The first columns and the comparison of a leaderboard row, formatted independently."""
    r = row.run
    if row.rank == 1:
        versus = "best"
    elif row.tied:
        versus = f"≈ p={row.p_value:.2f}"
    else:
        versus = f"p={row.p_value:.3f}"
    return [str(row.rank), r.label, f"{r.mean[primary]:.4f}±{r.std[primary]:.3f}", versus]


def assert_board_matches(screen: TrainScreen, store: ProjectStore) -> Any:
    """The leaderboard table shows the service's leaderboard, ranked rows then failed ones."""
    from app.services import training as tr

    board = tr.leaderboard(store)
    table = screen.query_one("#leaderboard", DataTable)
    assert table.row_count == len(board.rows) + len(board.failed)
    for i, row in enumerate(board.rows):
        got = cells(table, i)
        assert [got[0], got[1].removesuffix(" ✓"), got[2], got[-1]] == expected_row(
            row, board.primary
        )
    for j, run in enumerate(board.failed, start=len(board.rows)):
        got = cells(table, j)
        assert got[:3] == ["–", run.label, run.status.value]
    return board


def terms(lines: list[str]) -> list[str]:
    """The term column of a coefficient table (the lines under its ─ rule)."""
    rule = next(i for i, line in enumerate(lines) if line.startswith("─"))
    return [line.split(" ")[0] for line in lines[rule + 1 :]]


def session_runs(store: ProjectStore) -> list[tuple[str, str]]:
    with store.connect() as con:
        session = store_runs.latest_session(con)
        assert session is not None
        return [
            (r.candidate, r.status.value) for r in store_runs.list_runs(con, session=session.id)
        ]


async def test_no_data_shows_the_overview(store: ProjectStore, charter_data: dict) -> None:
    problem.save_charter(store, charter_data)
    app = MlwbApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("4")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TrainScreen)
        assert not screen.ready
        assert screen.query_one("#overview").display
        assert not screen.query_one("#train-body").display
        await pilot.press("t")
        await settle(app, pilot)
        assert not screen.running


async def test_quick_preset_trains_a_leaderboard_equal_to_the_service(
    project: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services import models
    from app.services import training as tr

    real = tr.build_pipeline

    def broken_forest(spec: Any, *args: Any, **kwargs: Any) -> Any:
        if spec.key == "rf":
            raise RuntimeError("forest exploded on purpose")
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(tr, "build_pipeline", broken_forest)
    app = MlwbApp(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(app, pilot)
        setup = screen.query_one(TrainSetup)
        assert setup.models() == QUICK
        await pilot.press("a")
        assert setup.models() == [c.key for c in candidates_for(setup.charter_task)]
        await pilot.press("q")
        assert setup.models() == QUICK
        setup.query_one(SelectionList).select("sm_logit")
        light_settings(screen)
        await pilot.press("t")
        await settle(app, pilot)

        assert not screen.running
        progress = screen.query_one(TrainProgress).statuses()
        assert progress == {"dummy": "done", "logreg": "done", "rf": "failed", "hgb": "done"} | {
            "sm_logit": "done"
        }
        note = str(screen.query_one("#progress-note", Static).render())
        assert "rf failed: RuntimeError: forest exploded on purpose" in note
        assert sorted(session_runs(project)) == sorted(
            (k, "failed" if k == "rf" else "done") for k in progress
        )

        await pilot.press("l")
        await settle(app, pilot)
        board = assert_board_matches(screen, project)
        assert [r.run.candidate for r in board.rows][-1] == "dummy"
        assert [r.candidate for r in board.failed] == ["rf"]

        table = screen.query_one("#leaderboard", DataTable)
        table.move_cursor(row=1)
        await pilot.press("d")
        await settle(app, pilot)
        run = board.rows[1].run
        assert str(screen.query_one("#run-header", Static).render()).startswith(f"Run {run.id}: ")
        folds = screen.query_one("#run-folds", DataTable)
        labels = [str(c.label) for c in folds.ordered_columns]
        assert labels == ["", "fold 1", "fold 2", "fold 3", "mean", "sd"]
        f1 = next(i for i in range(folds.row_count) if str(folds.get_row_at(i)[0]).strip() == "f1")
        assert cells(folds, f1)[1:4] == [f"{f.metrics['f1']:.4f}" for f in run.folds]
        assert cells(folds, f1)[4] == f"{run.mean['f1']:.4f}"

        logit = next(i for i, r in enumerate(board.rows) if r.run.candidate == "sm_logit")
        await pilot.press("l")
        table.move_cursor(row=logit)
        await settle(app, pilot)
        shown = str(screen.query_one("#run-summary", Static).render()).splitlines()
        expected = models.interpretable_summary(project, board.rows[logit].run)
        assert expected is not None
        # The same coefficient table; the L1 fit is refitted for each call and its last digits
        # may differ with BLAS threading, so compare the headline and the terms.
        assert shown[0] == expected.splitlines()[0]
        assert terms(shown) == terms(expected.splitlines()) and len(terms(shown)) > 5

        failed = len(board.rows)
        table.move_cursor(row=failed)
        await pilot.pause()
        assert "RuntimeError: forest exploded on purpose" in str(
            screen.query_one("#run-header", Static).render()
        )

        table.move_cursor(row=0)
        await pilot.press("c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(app, pilot)
        chosen = models.chosen_run(project)
        assert chosen is not None and chosen.id == board.rows[0].run.id
        assert cells(table, 0)[1].endswith(" ✓")


async def test_cancel_keeps_finished_runs_and_resume_completes(project: ProjectStore) -> None:
    app = MlwbApp(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(app, pilot)
        light_settings(screen)
        reached, release = threading.Event(), threading.Event()
        forward = screen._report_event

        def hold_in_logreg(event: Any) -> None:
            forward(event)
            if event.kind == "fold" and event.candidate == "logreg" and event.fold == 1:
                reached.set()
                release.wait(60)

        screen._report_event = hold_in_logreg  # type: ignore[method-assign]
        await pilot.press("t")
        while not reached.is_set():
            assert screen.running, "training ended before logistic regression's first fold"
            await asyncio.to_thread(reached.wait, 0.2)
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        assert any("already running" in str(n.message) for n in app._notifications)
        await pilot.press("escape")
        await pilot.pause()
        release.set()
        await settle(app, pilot)

        assert not screen.running
        assert screen.query_one(TrainProgress).statuses() == {
            "dummy": "done",
            "logreg": "cancelled",
            "rf": "not run",
            "hgb": "not run",
        }
        assert session_runs(project) == [("dummy", "done"), ("logreg", "cancelled")]
        with project.connect() as con:
            session = store_runs.latest_session(con)
            cancelled = store_runs.list_runs(con, session=session.id)[1]  # type: ignore[union-attr]
        assert session is not None and session.status == "cancelled"
        assert cancelled.status is RunStatus.CANCELLED and len(cancelled.folds) == 1
        await pilot.press("l")
        await settle(app, pilot)
        assert_board_matches(screen, project)

        screen._report_event = forward  # type: ignore[method-assign]
        await pilot.press("r")
        await settle(app, pilot)
        assert screen.query_one(TrainProgress).statuses() == {
            "dummy": "kept",
            "logreg": "done",
            "rf": "done",
            "hgb": "done",
        }
        assert session_runs(project) == [
            ("dummy", "done"),
            ("logreg", "cancelled"),
            ("logreg", "done"),
            ("rf", "done"),
            ("hgb", "done"),
        ]
        await pilot.press("l")
        await settle(app, pilot)
        board = assert_board_matches(screen, project)
        assert len(board.rows) == 4 and not board.failed


async def test_param_editor_refuses_out_of_range_values(project: ProjectStore) -> None:
    app = MlwbApp(project)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_train(app, pilot)
        listing = screen.query_one("#candidates", SelectionList)
        listing.highlighted = [o.value for o in listing.options].index("rf")
        await pilot.press("e")
        await settle(app, pilot)
        editor = app.screen
        assert isinstance(editor, ParamEditor)
        assert editor.query_one("#p-model", Select).value == "rf"
        box = editor.query_one("#pf-n_estimators", Input)
        assert box.value == "100"
        box.value = "5000"
        await pilot.pause()
        with pytest.raises(ValueError) as refused:
            CANDIDATES["rf"].param("n_estimators").parse("5000")
        error = editor.query_one("#pe-n_estimators", Static)
        assert error.display
        assert str(error.render()) == f"✗ {refused.value}"
        assert "int in [10, 500]" in str(refused.value)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is editor
        assert screen.params == {}
        box.value = "200"
        await pilot.pause()
        assert not error.display
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        assert screen.params == {"rf": {"n_estimators": 200}}
        info = str(screen.query_one("#candidate-info", Static).render())
        assert re.search(r"\n  n_estimators\* +200 +int in \[10, 500\]", info)


async def test_settings_are_checked_before_starting(project: ProjectStore) -> None:
    app = MlwbApp(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(app, pilot)
        screen.query_one("#t-cv", Input).value = "1"
        screen.query_one("#t-budget", Input).value = "20"
        await pilot.pause()
        cv_error = screen.query_one("#te-cv", Static)
        budget_error = screen.query_one("#te-budget", Static)
        assert str(cv_error.render()) == "✗ folds must be from 2 to 20, not 1"
        assert str(budget_error.render()) == "✗ a budget needs a search: pick random or halving"
        await pilot.press("ctrl+t")
        await settle(app, pilot)
        assert not screen.running
        assert any("Not started" in str(n.title) for n in app._notifications)
        with project.connect() as con:
            assert store_runs.latest_session(con) is None
        screen.query_one("#t-search", Select).value = "random"
        screen.query_one("#t-cv", Input).value = "4"
        await pilot.pause()
        assert not cv_error.display and not budget_error.display
        plan = str(screen.query_one("#setup-plan", Static).render())
        assert plan.startswith("Start (t) trains 4 model(s) × up to 20 trials × 4 folds")


async def test_a_service_error_is_shown_and_the_screen_recovers(
    project: ProjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.errors import MlwbError
    from app.services import training as tr

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise MlwbError("the training part has 3 row(s), too few for 5 folds", hint="use --cv 2")

    monkeypatch.setattr(tr, "train", refuse)
    app = MlwbApp(project)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_train(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        assert not screen.running
        assert not screen.query_one(ProgressPanel).display
        messages = [str(n.message) for n in app._notifications]
        assert "the training part has 3 row(s), too few for 5 folds — use --cv 2" in messages
        assert screen.check_action("start", ()) and not screen.check_action("cancel_training", ())
