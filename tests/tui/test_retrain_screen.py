"""Pilot tests of the Retrain screen: the empty states, selecting batches and training a
challenger with the key (worker), the comparison shown equal to the stored one, and promoting
it (with the confirmation) then rolling back.

The project is the bikes story of tests/unit/test_retrain.py, smaller: a gradient-boosting
champion trained on January–March 2011 in production, June and August 2011 added as
labelled monitoring batches, September without labels. It is built once per module and
copied for each test.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from pilotkit import settle, settle_until
from textual.widgets import DataTable, Input, Static

from app.domain.stages import Stage
from app.services import evaluation as ev
from app.services import monitor, registry, retrain
from app.tui import MlwbApp
from screens.modals import ConfirmModal, ReasonModal
from screens.retrain import RetrainScreen
from screens.retrain_data import comparison_rows
from storage.db import ProjectStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from train_fixtures import SAMPLE, make_project, train_and_choose  # noqa: E402

SIZE = (120, 40)
BIKES = pl.read_csv(SAMPLE / "bike_sharing_hour.csv").drop("casual", "registered")
RESAMPLES = 200


def _months(*months: str) -> pl.DataFrame:
    return BIKES.filter(pl.col("dteday").str.slice(0, 7).is_in(list(months)))


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The project undeployed, deployed without batches, and with its monitoring batches."""
    from app.services.demo import DEMO_CHARTERS

    base = tmp_path_factory.mktemp("retrain")
    charter = {**DEMO_CHARTERS["bikes"], "constraints": []}
    train = _months("2011-01", "2011-02", "2011-03")
    store = make_project(base / "live", "bikes", train, charter, column_roles={"instant": "id"})
    run_id = train_and_choose(store, model="hgb")
    ev.evaluate(store, run_id, resamples=100, importance=False)
    shutil.copytree(store.root, base / "undeployed")
    version = registry.deploy(store, run_id, override_reason="retrain screen test")
    registry.promote(store, version.version)
    shutil.copytree(store.root, base / "deployed")
    _months("2011-06").write_csv(base / "june.csv")
    _months("2011-08").write_csv(base / "august.csv")
    _months("2011-09").drop("cnt").write_csv(base / "september.csv")
    for name in ("june", "august"):
        monitor.add_batch(store, base / f"{name}.csv", label_column="cnt", key_column="instant")
    monitor.add_batch(store, base / "september.csv", key_column="instant")
    return {"live": store.root, "undeployed": base / "undeployed", "deployed": base / "deployed"}


def copy_of(roots: dict[str, Path], which: str, tmp_path: Path) -> ProjectStore:
    shutil.copytree(roots[which], tmp_path / which)
    return ProjectStore.open(tmp_path / which)


async def open_retrain(app: MlwbApp, pilot: Any) -> RetrainScreen:
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, RetrainScreen)
    screen.resamples = RESAMPLES  # the CLI's 1,000 resamples would only make the test slower
    screen.importance = False
    return screen


def shown(screen: RetrainScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def production(store: ProjectStore) -> int | None:
    return next(
        (v.version for v in registry.list_versions(store) if "production" in v.aliases), None
    )


async def test_empty_states_say_what_to_do(roots: dict[str, Path], tmp_path: Path) -> None:
    undeployed = copy_of(roots, "undeployed", tmp_path)
    app = MlwbApp(undeployed, start=Stage.RETRAIN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_retrain(app, pilot)
        text = shown(screen, "#retrain-state")
        assert "no champion to challenge" in text and "Deploy (6)" in text
        assert "mlwb retrain --batches" in text
        assert not screen.query_one("#retrain-main").display
        await pilot.press("t")  # dimmed: nothing runs
        await settle(app, pilot)
        assert not screen.training and screen.state is not None

    app = MlwbApp(copy_of(roots, "deployed", tmp_path), start=Stage.RETRAIN)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_retrain(app, pilot)
        text = shown(screen, "#retrain-state")
        assert "v1 is in production; monitoring has no batches yet" in text
        assert "Monitor (7)" in text and "mlwb monitor add FILE --label-column" in text
        assert "mlwb retrain --batches" in text


async def test_select_batches_train_show_the_comparison_and_override(
    roots: dict[str, Path], tmp_path: Path
) -> None:
    """A charter stricter than any model (MAE <= 1): the challenger's gate fails, so the
    comparison keeps the champion and promoting asks for a reason."""
    from app.services import problem
    from app.services.demo import DEMO_CHARTERS

    store = copy_of(roots, "live", tmp_path)
    problem.save_charter(store, {**DEMO_CHARTERS["bikes"], "constraints": [], "threshold": 1})
    app = MlwbApp(store, start=Stage.RETRAIN)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_retrain(app, pilot)
        table = screen.query_one("#retrain-batches", DataTable)
        assert [str(c) for c in table.get_column("use")] == ["[x]", "held out", "—"]
        assert [str(c) for c in table.get_column("labelled")] == [
            f"{_months('2011-06').height:,}",
            f"{_months('2011-08').height:,}",
            "—",
        ]
        assert "No comparison yet" in shown(screen, "#comparison")
        # Leave June out: August alone is held out, so there is nothing to train on.
        assert table.cursor_row == 0
        await pilot.press("space")
        assert screen.chosen == {2}
        assert [str(c) for c in table.get_column("use")] == ["[ ]", "held out", "—"]
        assert shown(screen, "#cli-line") == "CLI: mlwb retrain --batches 2"
        await pilot.press("t")
        await settle(app, pilot)
        assert retrain_events(store) == []
        assert any("nothing new to train on" in n.message for n in app._notifications)
        # September has no labels: space on it changes nothing.
        await pilot.press("down", "down", "space")
        assert screen.chosen == {2}
        await pilot.press("up", "up", "space")
        assert screen.chosen == {1, 2}
        screen.query_one("#margin", Input).value = "5"
        await pilot.pause()
        assert shown(screen, "#cli-line") == "CLI: mlwb retrain --batches 1,2 --margin 5"
        table.focus()
        await pilot.press("t")
        await settle(app, pilot)
        assert not screen.training
        assert retrain_events(store) == ["data_built", "compared"]
        stored = retrain.last_comparison(store)
        text = shown(screen, "#comparison")
        assert f"Last comparison #{stored.id}:  {stored.decision.upper()} " in text
        assert stored.reason[1:] in text
        for name, value, ci, _ in comparison_rows(stored):
            assert any(line.split() == [name, value, *ci.split()] for line in text.splitlines()), (
                name,
                value,
                ci,
            )
        assert stored.compare_batch == 2 and stored.margin == 5.0
        assert "held-out rows of batch 2" in text and f"{stored.n_rows:,}" in text
        assert stored.gate == "fail" and stored.decision == "keep"
        assert "challenger gate FAIL" in text
        assert "charter    v2 · champion's" in text
        assert "p promotes anyway with a recorded reason" in text
        await pilot.press("s")  # shadowing a challenger whose gate failed needs a reason
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        assert app.screen.question == "Shadow anyway? The challenger's gate is FAIL"
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen and retrain_events(store) == ["data_built", "compared"]
        await pilot.press("p")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, ReasonModal)
        await pilot.press("enter")  # no reason: the dialog stays, nothing changes
        await pilot.pause()
        assert app.screen is modal and production(store) == 1
        modal.query_one("#reason-input", Input).value = "summer traffic"
        await pilot.press("enter")
        await settle(app, pilot)
        assert production(store) == 2
        (new,) = [v for v in registry.list_versions(store) if v.version == 2]
        assert new.run_id == stored.challenger.run_id
        assert new.override_reason == "summer traffic"
        text = shown(screen, "#comparison")
        assert "Promoted as bundle v2 (override: summer traffic)." in text
        assert f"{stored.challenger.dataset}: original rows + batches 1" in text
        assert "window     none (all rows)" in text


def retrain_events(store: ProjectStore) -> list[str]:
    with store.connect() as con:
        rows = con.execute(
            "SELECT action FROM events WHERE stage = 'retrain' ORDER BY id"
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def compared(roots: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live project after a challenger was compared (through the service)."""
    root = tmp_path_factory.mktemp("compared") / "p"
    shutil.copytree(roots["live"], root)
    retrain.retrain(ProjectStore.open(root), batches=[1, 2], resamples=RESAMPLES, importance=False)
    return root


async def test_promote_asks_first_then_rollback(compared: Path, tmp_path: Path) -> None:
    shutil.copytree(compared, tmp_path / "p")
    store = ProjectStore.open(tmp_path / "p")
    stored = retrain.last_comparison(store)
    app = MlwbApp(store, start=Stage.RETRAIN)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_retrain(app, pilot)
        # The last comparison shows when the screen opens.
        assert f"Last comparison #{stored.id}:" in shown(screen, "#comparison")
        assert stored.decision == "promote"
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("escape")  # cancelled: nothing changes
        await settle(app, pilot)
        assert production(store) == 1
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(app, pilot)
        assert production(store) == 2
        (new,) = [v for v in registry.list_versions(store) if v.version == 2]
        assert new.run_id == stored.challenger.run_id
        assert "Promoted as bundle v2." in shown(screen, "#comparison")
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        rolled = "Promoted as bundle v2, then rolled back."
        await settle_until(app, pilot, lambda: rolled in shown(screen, "#comparison"))
        assert production(store) == 1
        assert rolled in shown(screen, "#comparison")


async def test_shadow_the_challenger_show_its_evidence_then_stop(
    roots: dict[str, Path], compared: Path, tmp_path: Path
) -> None:
    """s shadows the last challenger (asks first), the panel shows ``shadow.summary``, a
    labelled batch added afterwards carries its shadow line on Monitor, and s stops it."""
    from app.services import shadow
    from screens.monitor import MonitorScreen

    shutil.copytree(compared, tmp_path / "p")
    store = ProjectStore.open(tmp_path / "p")
    stored = retrain.last_comparison(store)
    assert stored.gate == "pass"
    app = MlwbApp(store, start=Stage.RETRAIN)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_retrain(app, pilot)
        assert "Not shadowing. s shadows the challenger" in shown(screen, "#comparison")
        assert screen.active_bindings["s"].binding.action == "shadow"
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.screen.question == f"Shadow the challenger (run {stored.challenger.run_id})?"
        await pilot.press("y")
        await settle(app, pilot)
        version = shadow.current(store)
        assert version == 2 and production(store) == 1  # registered, not promoted
        assert shadow.summary(store) in shown(screen, "#comparison")
        assert screen.active_bindings["s"].binding.action == "stop_shadow"

        # A labelled batch added now is scored by both models.
        monitor.add_batch(store, roots["deployed"].parent / "august.csv", label_column="cnt")
        (batch_id, name, result) = shadow.results(store)[-1]
        screen.load()
        await settle(app, pilot)
        evidence = shadow.summary(store)
        assert shadow.line(batch_id, name, result) in evidence
        assert evidence in shown(screen, "#comparison")

        await pilot.press("7")
        await settle(app, pilot)
        monitor_screen = app.screen
        assert isinstance(monitor_screen, MonitorScreen)
        assert monitor_screen.selected == batch_id
        text = str(monitor_screen.query_one("#recommendation", Static).render())
        assert f"Shadow challenger (bundle v{version})" in text
        assert shadow.line(batch_id, name, result) in text
        assert text.count("challenger better") == 1  # not repeated among the reasons

        await pilot.press("8")
        await settle(app, pilot)
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        assert app.screen.question == f"Stop shadowing bundle v{version}?"
        await pilot.press("y")
        await settle(app, pilot)
        assert shadow.current(store) is None
        assert "Not shadowing." in shown(screen, "#comparison")


async def test_escape_stops_the_retrain_mid_training(
    roots: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The screen passes its stop event to the service as ``should_stop``; the service's
    ``RetrainCancelled`` ends the run like a stop between steps (no error dialog)."""
    import time

    asked: list[bool] = []

    def training(store: ProjectStore, **kwargs: Any) -> None:
        for _ in range(2000):  # "training": asks between folds, never reports progress
            asked.append(kwargs["should_stop"]())
            if asked[-1]:
                raise retrain.RetrainCancelled("retraining was stopped while training")
            time.sleep(0.005)
        raise AssertionError("never stopped")

    monkeypatch.setattr(retrain, "retrain", training)
    store = copy_of(roots, "live", tmp_path)
    app = MlwbApp(store, start=Stage.RETRAIN)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_retrain(app, pilot)
        await pilot.press("t")
        await pilot.pause()
        assert screen.training
        await pilot.press("escape")
        await settle(app, pilot)
        assert not screen.training and asked[-1] is True
        assert any(n.title == "Retrain stopped" for n in app._notifications)
        assert isinstance(app.screen, RetrainScreen)  # no error modal
    assert retrain_events(store) == []


async def test_panels_share_the_width(compared: Path, tmp_path: Path) -> None:
    """Below 150 columns the comparison runs under the data panel at full width (its lines
    do not wrap); from 150 the two sit side by side. The batch table fits its panel."""
    shutil.copytree(compared, tmp_path / "p")
    store = ProjectStore.open(tmp_path / "p")
    for size in ((120, 40), (160, 40)):
        app = MlwbApp(store, start=Stage.RETRAIN)
        async with app.run_test(size=size) as pilot:
            screen = await open_retrain(app, pilot)
            data = screen.query_one("#data-panel").region
            compare = screen.query_one("#compare-box").region
            table = screen.query_one("#retrain-batches", DataTable)
            assert table.virtual_size.width <= table.size.width, (size, table.virtual_size)
            head = screen.query_one("#data-head", Static)
            assert head.size.height == 1
            if size[0] < 150:
                assert compare.y >= data.bottom and compare.width >= size[0] - 2
            else:
                assert compare.x >= data.right and min(data.width, compare.width) >= 70
            tabular = ("champion", "challenger", "difference", "data ", "window ", "recipe ")
            lines = [
                ln for ln in shown(screen, "#comparison").splitlines() if ln.startswith(tabular)
            ]
            assert len(lines) >= 8  # the comparison's rows and the lineage: none wraps
            width = screen.query_one("#comparison").size.width
            assert max(len(line) for line in lines) <= width, (size, width, lines)


def test_the_gate_is_named_as_everywhere_else() -> None:
    from types import SimpleNamespace

    from app.domain.evaluation import GateOutcome
    from screens.retrain_data import gate_label, reason_text

    decision, reason = retrain.decide("too_close", False, -3.0, 1.0, 0.0)
    assert decision == "keep"
    c = SimpleNamespace(gate="too_close", reason=reason)
    assert gate_label("too_close") == GateOutcome.TOO_CLOSE.label == "TOO CLOSE TO CALL"
    assert reason_text(c) == "The challenger's gate is TOO CLOSE TO CALL, so the champion stays"
    assert gate_label("pass") == "PASS"
