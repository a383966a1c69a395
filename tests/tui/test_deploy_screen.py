"""Pilot tests of the Deploy screen: the empty states, building a bundle with the key,
promote and roll back behind a confirmation, the try-it form against ``Bundle.predict_row``,
the gate override reason, and the local server.

The project is the shared passed project (1,500 adult rows, a chosen logistic regression
that passed the gate), built once per module and copied for each test.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from pilotkit import settle
from textual.widgets import DataTable, Input, Select, Static

from app.domain.stages import Stage
from app.services import registry
from app.services.bundle import load_bundle
from app.tui import MlwbApp
from screens.deploy import DeployScreen
from screens.deploy_dialogs import TryItModal
from screens.modals import ConfirmModal, ReasonModal
from storage.db import ProjectStore

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from train_fixtures import adult_frame, charter, make_project, passed_project  # noqa: E402

SIZE = (120, 40)


@pytest.fixture(scope="module")
def passed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    store, _ = passed_project(tmp_path_factory.mktemp("deploy"))
    return store.root


@pytest.fixture
def passed(passed_root: Path, tmp_path: Path) -> ProjectStore:
    """A fresh copy of the passed project for one test."""
    shutil.copytree(passed_root, tmp_path / "p")
    return ProjectStore.open(tmp_path / "p")


async def open_deploy(app: MlwbApp, pilot: Any) -> DeployScreen:
    await settle(app, pilot)
    screen = app.screen
    assert isinstance(screen, DeployScreen)
    return screen


def state_text(screen: DeployScreen) -> str:
    return str(screen.query_one("#deploy-state", Static).render())


def assert_paths_whole(detail: Static) -> None:
    """Every bundle file name fits the detail pane on its own line (never broken mid-word)."""
    lines = str(detail.render()).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("files in "))
    names = [line for line in lines[start:] if line.startswith("  ")]
    assert len(names) >= 2 and names[0].endswith("/") and names[1].endswith(".zip")
    assert all(len(line) <= detail.content_size.width for line in lines[start:]), (
        detail.content_size,
        lines[start:],
    )


def aliases(store: ProjectStore) -> dict[int, list[str]]:
    return {v.version: v.aliases for v in registry.list_versions(store)}


async def test_empty_states_say_what_to_do(tmp_path: Path, passed: ProjectStore) -> None:
    fresh = make_project(tmp_path / "fresh", "adult", adult_frame(300), charter("adult"))
    app = MlwbApp(fresh, start=Stage.DEPLOY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_deploy(app, pilot)
        assert "no run is chosen" in state_text(screen)
        assert screen.query_one("#deploy-main").has_class("-empty")
        await pilot.press("b")  # the service refuses; nothing is registered
        await settle(app, pilot)
        assert registry.list_versions(fresh) == []
        assert screen.busy == ""
        assert any("no run has been chosen" in n.message for n in app._notifications)

    app = MlwbApp(passed, start=Stage.DEPLOY)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_deploy(app, pilot)
        assert "Nothing deployed yet" in state_text(screen)
        assert "press b" in state_text(screen).lower()


async def test_build_with_the_key_registers_a_candidate(passed: ProjectStore) -> None:
    app = MlwbApp(passed, start=Stage.DEPLOY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_deploy(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        (v,) = registry.list_versions(passed)
        assert v.aliases == ["candidate"] and v.gate == "pass"
        table = screen.query_one("#registry-table", DataTable)
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        assert row[0] == "v1" and row[1] == str(v.run_id) and row[5] == "candidate"
        f1 = v.metadata["metrics"]["f1"]
        assert row[3] == f"{f1['value']:.3f} [{f1['low']:.3f}, {f1['high']:.3f}]"
        assert str(table.columns["metric"].label) == "f1 [95% CI]"  # one metric: in the header
        detail = str(screen.query_one("#deploy-detail", Static).render())
        assert "v1 · run" in detail and "contract:" in detail
        assert f"files in artifacts/bundles/\n  {Path(v.path).name}/\n" in detail
        assert_paths_whole(screen.query_one("#deploy-detail", Static))


async def test_promote_and_rollback_ask_first(passed: ProjectStore) -> None:
    registry.deploy(passed)
    registry.deploy(passed)
    app = MlwbApp(passed, start=Stage.DEPLOY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_deploy(app, pilot)
        assert screen.selected == 2  # newest first, no production yet
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("escape")  # cancelled: nothing changes
        await settle(app, pilot)
        assert aliases(passed) == {2: ["candidate"], 1: []}
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert aliases(passed) == {2: ["production"], 1: []}
        await pilot.press("down")  # v1
        assert screen.selected == 1
        await pilot.press("p", "y")
        await settle(app, pilot)
        assert aliases(passed) == {2: ["archived"], 1: ["production"]}
        table = screen.query_one("#registry-table", DataTable)
        assert str(table.get_cell("1", "alias")) == "production"
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(app, pilot)
        assert aliases(passed) == {2: ["production"], 1: ["archived"]}
        assert str(table.get_cell("2", "alias")) == "production"
        assert "v2 is in production" in state_text(screen)


async def test_try_it_predicts_like_the_bundle(passed: ProjectStore) -> None:
    built = registry.deploy(passed)
    bundle = load_bundle(registry.resolve(passed, built.path))
    app = MlwbApp(passed, start=Stage.DEPLOY)
    async with app.run_test(size=SIZE) as pilot:
        await open_deploy(app, pilot)
        await pilot.press("t")
        await settle(app, pilot)
        modal = app.screen
        assert isinstance(modal, TryItModal)
        row = modal.record()
        contract = {c.name for c in bundle.contract.columns}
        assert set(row) == set(bundle.raw.required or contract)
        age = bundle.baseline.features[[f.name for f in bundle.baseline.features].index("age")]
        assert row["age"] == int(round(age.quantiles["q50"]))
        sex = bundle.baseline.features[[f.name for f in bundle.baseline.features].index("sex")]
        assert row["sex"] == max(sex.frequencies, key=sex.frequencies.__getitem__)
        assert modal.last == bundle.predict_row(row)
        assert "probability" in str(modal.query_one("#tryit-result", Static).render())

        # A categorical level picked from the drop-down is what the row sends.
        index = [f.name for f in modal.fields].index("sex")
        select = modal.query_one(f"#field-{index}", Select)
        other = next(c for c in modal.fields[index].choices if c != select.value)
        select.value = other
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert modal.record()["sex"] == other
        assert modal.last == bundle.predict_row(modal.record())

        # Text that is not a number: the bundle's validation error, shown as refused.
        age_box = modal.query_one(f"#field-{[f.name for f in modal.fields].index('age')}", Input)
        age_box.focus()
        age_box.value = "abc"
        await pilot.press("enter")
        await settle(app, pilot)
        assert modal.last is not None and modal.last == bundle.predict_row(modal.record())
        assert any("is not a number" in e for e in modal.last["errors"])
        result = modal.query_one("#tryit-result", Static)
        assert result.has_class("-error") and "is not a number" in str(result.render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DeployScreen)


async def test_a_failed_gate_asks_for_a_reason(passed: ProjectStore) -> None:
    from app.services import evaluation as ev
    from app.services import problem

    current = problem.current_charter(passed)
    assert current is not None
    data = current.charter.model_dump(mode="json")
    data["threshold"] = 0.99  # no model reaches it: the gate fails
    problem.save_charter(passed, data)
    failed = ev.evaluate(passed, resamples=100, importance=False)
    assert failed.gate.outcome.value != "pass"
    app = MlwbApp(passed, start=Stage.DEPLOY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_deploy(app, pilot)
        assert "did not pass the gate" in state_text(screen)
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, ReasonModal)
        await pilot.press("escape")  # cancelled: nothing is built
        await settle(app, pilot)
        assert registry.list_versions(passed) == []
        await pilot.press("b")
        await pilot.pause()
        await pilot.press(*"pilot study", "enter")
        await settle(app, pilot)
        (v,) = registry.list_versions(passed)
        assert v.override_reason == "pilot study" and v.gate != "pass"
        table = screen.query_one("#registry-table", DataTable)
        assert str(table.get_cell("1", "gate")).endswith("overridden")


async def test_server_starts_counts_requests_and_stops(passed: ProjectStore) -> None:
    import socket

    import httpx

    built = registry.deploy(passed)
    bundle = load_bundle(registry.resolve(passed, built.path))
    app = MlwbApp(passed, start=Stage.DEPLOY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_deploy(app, pilot)
        with socket.socket() as taken:  # a port in use: the error shows, nothing runs
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            screen.server_port = taken.getsockname()[1]
            await pilot.press("s")
            await settle(app, pilot)
        assert screen.server is None and screen.busy == ""
        assert any("in use" in n.message for n in app._notifications)

        screen.server_port = 0  # any free port
        await pilot.press("s")
        await settle(app, pilot)
        server = screen.server
        assert server is not None and screen.served == built.version
        health = httpx.get(f"{server.url}/health", timeout=30)
        assert health.status_code == 200
        row = {f.name: f.default for f in TryItModal(bundle, "v1").fields}
        answer = httpx.post(f"{server.url}/predict", json=[row], timeout=30)
        assert answer.status_code == 200
        assert (
            answer.json()["predictions"][0]["prediction"] == bundle.predict_row(row)["prediction"]
        )
        refused = httpx.post(f"{server.url}/predict", json=[{**row, "age": "abc"}], timeout=30)
        assert refused.status_code == 200 and refused.json()["predictions"][0]["errors"]
        screen._show_server()  # what the one-second refresh does
        line = str(screen.query_one("#server-line", Static).render())
        assert server.url in line and "2 requests · 1 rejected" in line
        await pilot.press("s")  # the same key stops it
        await settle(app, pilot)
        assert screen.server is None and not server.running
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{server.url}/health", timeout=5)

        await pilot.press("s")  # a server left running stops with the app
        await settle(app, pilot)
        server = screen.server
        assert server is not None and server.running
    assert not server.running


async def test_wheel_is_built_beside_the_bundle(passed: ProjectStore) -> None:
    import zipfile

    built = registry.deploy(passed)
    folder = registry.resolve(passed, built.path)
    app = MlwbApp(passed, start=Stage.DEPLOY)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_deploy(app, pilot)
        await pilot.press("w")
        await settle(app, pilot)
        wheel = screen.wheels[built.version]
        assert wheel.parent == folder.parent and wheel.suffix == ".whl"
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
        manifest = next(n for n in names if n.endswith("/bundle/manifest.json"))
        with zipfile.ZipFile(wheel) as archive:
            assert archive.read(manifest) == (folder / "manifest.json").read_bytes()
        detail = screen.query_one("#deploy-detail", Static)
        assert f"wheel:\n  {wheel.name}" in str(detail.render())
        assert_paths_whole(detail)
